"""Issues: the issue file, post selection, the compiler (Jinja -> MJML -> premailer), placeholders,
the plain-text part, the pre-send checks, building and previewing."""
