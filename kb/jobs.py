"""KB jobs: flush buffered article views. Each is safe to run twice."""

from kb import viewcounts


def flush_view_counts() -> None:
    """Add the buffered page views to the articles' view counts."""
    viewcounts.flush()
