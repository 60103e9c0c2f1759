"""Sending: the sender, the send ledger, retries, due sends, reports, the provider's events."""
