"""newsletter: compile quarterly email newsletters and send them to a double opt-in list."""

__version__ = "0.1.0"
