"""Row ids from outside (a URL, a form): ones no row can have are refused before the database sees
them, because SQLite and PostgreSQL drivers fail on integers beyond their columns instead of
finding nothing."""

from werkzeug.routing import IntegerConverter

ID_MAX = 2**31 - 1  # PostgreSQL's integer; SQLite's rowid is wider, but no id gets that far


def possible_id(value) -> int | None:
    """`value` as an id a row could have, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= ID_MAX else None


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: beyond ID_MAX the URL simply does not match (a 404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=ID_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
