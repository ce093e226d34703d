"""`flask demo load` loads the community and then the knowledge base; `--if-empty` twice is harmless."""

import sqlalchemy as sa

from core.extensions import db
from forum.models import Thread
from kb.models import Article, ArticleRevision, KbCategorySetting


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_the_demo_loads_articles_some_promoted_from_solved_threads(app, runner, client):
    result = runner.invoke(args=["demo", "load", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Loaded the demo community" in result.output
    assert "Loaded the demo knowledge base: 14 articles, 7 of them promoted" in result.output
    assert count(Article) == 14 and count(Article, Article.status == "published") >= 12
    promoted = list(db.session.scalars(sa.select(Article).where(Article.source_thread_id.is_not(None))))
    assert len(promoted) == 7
    for article in promoted:
        thread = db.session.get(Thread, article.source_thread_id)
        assert thread.accepted_post_id is not None
        first = db.session.scalar(sa.select(ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.number == 1))
        assert first.note == f"Promoted from thread #{thread.id}" and first.title == thread.title
        assert article.created_at >= thread.solved_at
    assert count(KbCategorySetting, KbCategorySetting.advocates_may_write.is_(True)) == 2

    home = client.get("/kb")
    assert home.status_code == 200 and "Verify webhook signatures" in home.text
    published = next(a for a in promoted if a.status == "published")
    assert client.get(f"/kb/{published.slug}").status_code == 200
    thread_page = client.get(f"/t/{published.source_thread_id}").text
    assert f'KB article: <a href="/kb/{published.slug}">' in thread_page
    draft = next(a for a in promoted if a.status == "draft")
    assert client.get(f"/kb/{draft.slug}").status_code == 404

    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert again.exit_code == 0, again.output
    assert "not loaded" in again.output and count(Article) == 14
    refused = runner.invoke(args=["demo", "load"])
    assert refused.exit_code != 0 and count(Article) == 14


def test_a_forum_that_is_not_the_demo_gets_no_demo_articles(app, runner):
    from tests.factories import make_thread

    make_thread()
    result = runner.invoke(args=["demo", "load", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not the demo community" in result.output and count(Article) == 0
