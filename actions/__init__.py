"""Rasa custom actions of Guichet, one module per capability; thin: read slots, call bot.*, utter, return events."""
