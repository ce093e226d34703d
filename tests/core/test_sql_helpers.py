"""core.extensions' SQL helpers: values written into a statement's text, never anything a person typed."""

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import User
from core.extensions import constant, db, joined_strings
from tests.factories import make_user


def compiled(statement) -> list[str]:
    return [str(statement.compile(dialect=dialect)) for dialect in (sqlite.dialect(), postgresql.dialect())]


def test_a_constant_is_written_into_the_statement_and_selects_rows(app):
    make_user("member"), make_user("member"), make_user("staff")
    statement = sa.select(sa.func.count()).select_from(User).where(User.role == constant("member"))
    assert all("users.role = 'member'" in sql for sql in compiled(statement))
    assert statement.compile().params == {}
    assert db.session.scalar(statement) == 2


@pytest.mark.parametrize("value", ["", "open'; DROP TABLE users; --", "Open", "open state", "é", "x" * 41])
def test_a_constant_refuses_anything_but_a_plain_word(value):
    with pytest.raises(ValueError):
        constant(value)


def test_joined_strings_writes_its_separator_in_and_joins(app):
    names = {make_user().username, make_user().username}
    statement = sa.select(joined_strings(User.username, " "))
    assert all("POSTCOMPILE" not in sql and "' '" in sql for sql in compiled(statement))
    assert statement.compile().params == {}
    assert set(db.session.scalar(statement).split(" ")) == names
    with pytest.raises(ValueError):
        joined_strings(User.username, "','")
