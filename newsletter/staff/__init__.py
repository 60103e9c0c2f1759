"""Staff: the people who sign in to /admin, their roles, passwords, sessions and activity log."""
