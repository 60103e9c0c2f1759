"""Subscribers: the store and its status rules, consent, CSV files, signed tokens, the confirmation
email."""
