"""Transactional emails (confirmations, staff sign-in links) through the email job table: queued
in the transaction that asks for them, delivered by the email worker (docs/email-jobs.md)."""
