"""Page numbers from the query string: every value becomes a page from 1 to PAGE_MAX."""

import pytest

from core.paging import PAGE_MAX, page_number


@pytest.mark.parametrize(("value", "page"), [
    ("3", 3), (" 7 ", 7), ("1", 1), (None, 1), ("", 1), ("0", 1), ("-4", 1), ("x", 1), ("1.5", 1),
    ("1e9", 1), ("99999999999999999999", PAGE_MAX), (str(2**63), PAGE_MAX), ("-99999999999999999999", 1),
    ("9" * 5000, 1),  # beyond what int() reads: unreadable, so the first page
])
def test_page_numbers_are_clamped_never_refused(value, page):
    assert page_number(value) == page


def test_a_list_may_set_a_lower_limit():
    assert page_number("51", limit=50) == 50
