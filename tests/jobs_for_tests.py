"""Job functions used only by the job tests: they leave a trace a test can see."""

import time
from pathlib import Path

from core import jobs


def append_line(path: str, text: str) -> None:
    """Append one line to a file (so a job run twice would show twice)."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def explode(message: str) -> None:
    """Always fail, with the given message."""
    raise RuntimeError(message)


@jobs.batched
def record_batch(items: list) -> None:
    """Append one line holding every item of this run (so a batch shows as one line)."""
    path, *rest = items
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(" ".join(rest) + "\n")


@jobs.batched
def record_batch_unless_bad(items: list) -> None:
    """record_batch, but fail the whole run when an item is "bad"."""
    if "bad" in items:
        raise RuntimeError(f"a bad item in a batch of {len(items)}")
    record_batch(items)


def slow_the_first_time(path: str, seconds: float) -> None:
    """The first run leaves a mark and sleeps (long enough to be killed); a later run appends 'done'."""
    mark = Path(path + ".started")
    if not mark.exists():
        mark.write_text("started")
        time.sleep(seconds)
    append_line(path, "done")


def sleep_then_append(path: str, seconds: float, text: str) -> None:
    """Sleep, then append a line."""
    time.sleep(seconds)
    append_line(path, text)
