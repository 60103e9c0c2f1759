"""The staff area at /admin: sign-in, the issue workflow, the activity log (docs/dashboard.md)."""
