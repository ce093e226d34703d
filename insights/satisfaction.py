"""Asker satisfaction: once a thread is solved or closed its asker is asked, once, whether it solved
their problem (1-5, with an optional comment)."""


def init_app() -> None:
    """Subscribe to the forum's events (filled in by the satisfaction work)."""
