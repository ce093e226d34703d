"""Stored HTML is never stale after a renderer change: `flask markup rerender` renders every stored
post and article again (only what changed is written) and records the renderer it used."""

import sqlalchemy as sa

from core import markup
from core.extensions import db
from core.models import MarkupState
from forum.models import Post
from kb.models import Article
from tests.factories import make_article, make_thread

LIST_AFTER_TEXT = "Steps to reproduce:\n1. open the bank feed\n2. press import twice"
OLD_HTML = "<p>Steps to reproduce: 1. open the bank feed 2. press import twice</p>"


def _stale(model, row_id):
    """What an older renderer stored, and a record saying so."""
    db.session.execute(sa.update(model).where(model.id == row_id).values(body_html=OLD_HTML))
    state = db.session.get(MarkupState, 1) or MarkupState(id=1)
    state.renderer_version, state.rendered_at = "older", sa.func.now()
    db.session.add(state)
    db.session.commit()


def test_rerender_makes_stale_posts_and_articles_current_once(app, runner):
    thread = make_thread(body=LIST_AFTER_TEXT)
    question_id = db.session.scalar(sa.select(Post.id).where(Post.thread_id == thread.id))
    article = make_article(body=LIST_AFTER_TEXT)
    untouched = make_thread(body="Nothing here changes with the renderer.")
    untouched_html = db.session.scalar(sa.select(Post.body_html).where(Post.thread_id == untouched.id))
    _stale(Post, question_id)
    _stale(Article, article.id)

    result = runner.invoke(args=["markup", "rerender", "--if-stale"])
    assert result.exit_code == 0, result.output
    assert f"Rendered again with renderer {markup.RENDERER_VERSION} (was older): 2 changed." in result.output
    db.session.expire_all()
    for model, row_id in ((Post, question_id), (Article, article.id)):
        html = db.session.scalar(sa.select(model.body_html).where(model.id == row_id))
        assert html == str(markup.render(LIST_AFTER_TEXT)) and "<ol>" in html
    kept = db.session.scalar(sa.select(Post.body_html).where(Post.thread_id == untouched.id))
    assert kept == untouched_html
    assert markup.stored_version() == markup.RENDERER_VERSION

    again = runner.invoke(args=["markup", "rerender", "--if-stale"])
    assert again.exit_code == 0 and "Stored HTML is current" in again.output


def test_every_package_that_stores_rendered_text_registers_it(app):
    assert set(markup.STORED) == {"posts", "kb_articles", "internal_notes", "conversation_messages"}
    for model, source, html, _rendered in markup.STORED.values():
        assert {source, html} <= set(model.__table__.c.keys())


def test_an_imported_post_keeps_the_html_it_came_with_until_edited(app, runner):
    thread = make_thread(body=LIST_AFTER_TEXT)
    question_id = db.session.scalar(sa.select(Post.id).where(Post.thread_id == thread.id))
    _stale(Post, question_id)
    db.session.execute(sa.update(Post).where(Post.id == question_id).values(import_source="stackexchange"))
    db.session.commit()
    assert runner.invoke(args=["markup", "rerender"]).exit_code == 0
    db.session.expire_all()
    assert db.session.scalar(sa.select(Post.body_html).where(Post.id == question_id)) == OLD_HTML


def test_a_bad_batch_size_is_refused(app, runner):
    result = runner.invoke(args=["markup", "rerender", "--batch", "0"])
    assert result.exit_code == 2 and "0 is not in the range" in result.output
