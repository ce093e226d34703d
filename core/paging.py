"""Page numbers from a query string (`?page=`), bounded once for every paged list.

A page number becomes an SQL OFFSET; one beyond what the drivers accept (SQLite's and
PostgreSQL's 64-bit integers) fails in the database instead of finding an empty page. Each list
already shows its last page when asked for a later one, so a page number is only ever clamped,
never refused.
"""

from flask import request

# Far past any real page (50 rows a page at most: an offset of five million), far below an overflow.
PAGE_MAX = 100_000


def page_number(value, *, limit: int = PAGE_MAX) -> int:
    """`value` as a page from 1 to `limit`: missing, unreadable or below 1 is page 1, above `limit`
    is `limit`."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 1
    return min(max(number, 1), limit)


def requested_page(*, limit: int = PAGE_MAX) -> int:
    """The current request's `page` argument, through page_number."""
    return page_number(request.args.get("page"), limit=limit)
