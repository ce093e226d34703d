"""Following categories and tags ("my topics"): what the lists' "mine" filter reads. Following a
topic subscribes to no thread and sends no notice."""

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from core.errors import Forbidden, Invalid
from core.extensions import db, read
from forum.models import Category, Tag, TopicFollow


def _topic_clause(category: Category | None, tag: Tag | None):
    if (category is None) == (tag is None):
        raise Invalid("Follow a category or a tag, one at a time.")
    if category is not None:
        return TopicFollow.category_id == category.id
    return TopicFollow.tag_id == tag.id


def _signed_in(actor) -> None:
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to follow categories and tags.")


def follow_topic(actor: User, *, category: Category | None = None, tag: Tag | None = None) -> None:
    """Follow a category (with its sub-categories) or a tag; following it again changes nothing.
    Raises Forbidden (not signed in), Invalid (neither or both)."""
    _signed_in(actor)
    clause = _topic_clause(category, tag)
    exists = db.session.scalar(sa.select(TopicFollow.id).where(TopicFollow.user_id == actor.id, clause))
    if exists is None:
        try:
            with db.session.begin_nested():  # a double click in two requests: the unique key decides
                db.session.add(TopicFollow(user_id=actor.id, category_id=category and category.id,
                                           tag_id=tag and tag.id))
        except IntegrityError:
            pass  # the other request followed it: the outcome asked for
    db.session.commit()


def unfollow_topic(actor: User, *, category: Category | None = None, tag: Tag | None = None) -> None:
    """Stop following a category or a tag; not following it is no error. Raises Forbidden, Invalid."""
    _signed_in(actor)
    clause = _topic_clause(category, tag)
    db.session.execute(sa.delete(TopicFollow).where(TopicFollow.user_id == actor.id, clause))
    db.session.commit()


@dataclass(frozen=True)
class FollowState:
    """For a list page: whether the viewer follows its category or tag, and whether they follow any."""

    following: bool
    follows_any: bool


FOLLOWS_FIGURE = "followed_topics"


def followed_figure():
    """How many categories and tags someone follows, loaded with them (accounts.services.SESSION_FIGURES)."""
    return (sa.select(sa.func.count()).select_from(TopicFollow).where(TopicFollow.user_id == User.id)
            .correlate(User).scalar_subquery())


def follow_state(user: User, category: Category | None = None, tag: Tag | None = None) -> FollowState:
    """Whether `user` follows this category or tag (when one is given) and anything at all: one
    query, none for a list of neither when the count of their follows came with them."""
    figures = user.session_figures
    if category is None and tag is None and figures is not None and FOLLOWS_FIGURE in figures:
        return FollowState(following=False, follows_any=bool(figures[FOLLOWS_FIGURE]))
    row = read(_follow_state_statement(), {
        "user_id": user.id, "category_id": category.id if category is not None else None,
        "tag_id": tag.id if tag is not None and category is None else None}).one()
    return FollowState(following=bool(row[1]), follows_any=bool(row[0]))


@functools.cache
def _follow_state_statement():
    """Built once: every list a signed-in person opens runs it. A None id matches no follow."""
    this = sa.or_(TopicFollow.category_id == sa.bindparam("category_id", type_=sa.Integer),
                  TopicFollow.tag_id == sa.bindparam("tag_id", type_=sa.Integer))
    return (sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((this, 1), else_=0)), 0))
            .where(TopicFollow.user_id == sa.bindparam("user_id")))


def followed_topics(user: User) -> tuple[list[Category], list[Tag]]:
    """The categories and the tags `user` follows, by name; two small queries."""
    categories = list(db.session.scalars(
        sa.select(Category).join(TopicFollow, TopicFollow.category_id == Category.id)
        .where(TopicFollow.user_id == user.id).order_by(Category.name)))
    tags = list(db.session.scalars(
        sa.select(Tag).join(TopicFollow, TopicFollow.tag_id == Tag.id)
        .where(TopicFollow.user_id == user.id).order_by(Tag.name)))
    return categories, tags
