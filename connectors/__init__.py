"""Rasa input/output channels of Guichet (Telegram, SMS, web chat) and what they share."""
