"""Rasa input/output channels of Guichet: `rest`, `sms/`, `telegram/`, `webchat/`, and in `shared/` what they share."""
