"""Guichet's domain logic (catalog, tickets, privacy, notifications) and staff console."""
