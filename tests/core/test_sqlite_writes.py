"""SQLite under concurrent writers: no 'database is locked' and no lost updates."""

import threading

import sqlalchemy as sa

from accounts.models import User
from core.extensions import db
from tests.factories import make_user


def test_concurrent_read_modify_write_loses_nothing(make_app):
    app = make_app("sqlite")
    with app.app_context():
        user_id = make_user(username="counter").id
    errors, threads_n, rounds = [], 4, 15

    def work():
        try:
            for _ in range(rounds):
                with app.app_context():
                    user = db.session.get(User, user_id)  # read ...
                    user.bio = (user.bio or "") + "x"  # ... then write, in one transaction
                    db.session.commit()
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        bio = db.session.scalar(sa.select(User.bio).where(User.id == user_id))
    assert len(bio) == threads_n * rounds


def test_concurrent_sign_ups_all_land(make_app):
    from accounts import services

    app = make_app("sqlite")
    errors = []

    def sign_up(n):
        try:
            with app.app_context():
                services.sign_up(f"user{n}@example.com", f"user{n}", "a long enough passphrase")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 8
