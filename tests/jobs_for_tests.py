"""Job functions used only by the job tests: they leave a trace a test can see."""

from pathlib import Path


def append_line(path: str, text: str) -> None:
    """Append one line to a file (so a job run twice would show twice)."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def explode(message: str) -> None:
    """Always fail, with the given message."""
    raise RuntimeError(message)
