"""How messages leave: ``OutboxTransport`` (.eml files, the default) or ``SendGridTransport``."""
