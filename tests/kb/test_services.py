"""KB services on SQLite and PostgreSQL: writing, revisions, statuses, who writes where, feedback,
promotion of solved threads, and the bad input each of them refuses."""

import pytest
import sqlalchemy as sa

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from forum import categories, states
from forum.models import Tag
from kb import queries, services
from kb.models import Article, ArticleFeedback, ArticleRevision
from tests.factories import make_article, make_category, make_solved_thread, make_thread, make_user

ZALGO = "Z" + "\u0301\u0302\u0303\u0308" * 48  # one letter under 192 combining marks


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def open_to_advocates(*categories):
    services.set_advocate_categories(make_user("admin"), [c.id for c in categories])


# --- writing and revisions ---------------------------------------------------------------------------


def test_a_new_article_is_rendered_once_and_kept_as_revision_one(app):
    staff, category = make_user("staff"), make_category("Billing")
    db.session.add(Tag(name="invoices"))
    article = services.create_article(staff, category.id, "  Reconnect   a bank feed ",
                                      "Open **Bank** and click *Renew*.", "invoices, new-tag")
    assert (article.title, article.slug, article.status) == ("Reconnect a bank feed", "reconnect-a-bank-feed",
                                                             "draft")
    assert "<strong>Bank</strong>" in article.body_html
    assert [t.name for t in article.tags] == ["invoices", "new-tag"]  # staff may create tags
    assert article.published_at is None and article.view_count == 0
    [revision] = services.revisions(staff, article)
    assert (revision.number, revision.title, revision.body, revision.editor_id) == (
        1, "Reconnect a bank feed", "Open **Bank** and click *Renew*.", staff.id)


def test_every_save_of_title_or_text_is_a_revision(app):
    staff, editor = make_user("staff"), make_user("admin")
    article = make_article(staff, title="First title", body="First body")
    services.edit_article(editor, article, title="Second title", body="First body")
    services.edit_article(staff, article, title="Second title", body="Second body")
    services.edit_article(staff, article, title="Second title", body="Second body")  # no change: no revision
    history = services.revisions(staff, article)
    assert [(r.number, r.title, r.body, r.editor_id) for r in history] == [
        (3, "Second title", "Second body", staff.id), (2, "Second title", "First body", editor.id),
        (1, "First title", "First body", staff.id)]
    assert article.body_html == "<p>Second body</p>"


def test_slugs_are_made_from_titles_unique_and_editable(app):
    category = make_category()
    first = make_article(category=category, title="Crédit notes: the basics!")
    second = make_article(category=category, title="Credit notes — the basics")
    third = make_article(category=category, title="新しい記事")  # nothing ASCII is left
    assert (first.slug, second.slug, third.slug) == ("credit-notes-the-basics", "credit-notes-the-basics-2",
                                                     "article")
    assert make_article(category=category, title="New").slug == "new-2"  # /kb/new is a page
    services.edit_article(make_user("staff"), second, title=second.title, body=second.body,
                          slug="credit-notes-for-part-of-an-invoice")
    assert second.slug == "credit-notes-for-part-of-an-invoice"
    long = make_article(category=category, title="word " * 39)
    assert len(long.slug) <= 120 and not long.slug.endswith("-")


@pytest.mark.parametrize(
    ("title", "body", "field", "message"),
    [
        ("", "body", "title", "Give the article a title"),
        ("  \t ", "body", "title", "Give the article a title"),
        ("x" * 201, "body", "title", r"at most 200 characters \(this one has 201\)"),
        ("A fine title", "", "body", "the text is empty"),
        ("A fine title", "\n \n", "body", "the text is empty"),
        ("A fine title", "b" * 50_001, "body", "at most 50,000 characters"),
        ("\u200b\u200c\u200d\u2060\ufeff", "body", "title", "Give the article a title"),
        ("A fine title", "\u2062\n\u200b", "body", "the text is empty"),
        (ZALGO, "body", "title", "A title has a letter with more than 6 accents"),
        ("A fine title", "Steps: " + ZALGO, "body", "An article has a letter with more than 6 accents"),
    ],
)
def test_bad_articles_are_refused_and_nothing_is_saved(app, title, body, field, message):
    staff, category = make_user("staff"), make_category()
    with pytest.raises(Invalid, match=message) as caught:
        services.create_article(staff, category.id, title, body)
    assert caught.value.field == field
    assert count(Article) == 0 and count(ArticleRevision) == 0


@pytest.mark.parametrize("category_id", [999_999, "abc", None, ""])
def test_an_unknown_category_is_refused(app, category_id):
    with pytest.raises(Invalid, match="Choose one of the categories"):
        services.create_article(make_user("staff"), category_id, "A title", "A body")


@pytest.mark.parametrize(("slug", "message"), [
    ("Has Spaces", "lowercase letters, digits and single dashes"),
    ("double--dash", "lowercase letters, digits and single dashes"),
    ("-leading", "lowercase letters, digits and single dashes"),
    ("ünïcode", "lowercase letters, digits and single dashes"),
    ("a" * 121, "at most 120"),
    ("drafts", "address of a knowledge-base page"),
])
def test_bad_slugs_are_refused(app, slug, message):
    with pytest.raises(Invalid, match=message) as caught:
        make_article(slug=slug)
    assert caught.value.field == "slug"


def test_a_taken_slug_is_a_conflict_and_the_edit_keeps_what_was_saved(app):
    staff = make_user("staff")
    taken = make_article(staff, slug="bank-feeds")
    with pytest.raises(Conflict, match="already has the address /kb/bank-feeds"):
        make_article(staff, slug="bank-feeds")
    other = make_article(staff, title="Other", body="Original text")
    with pytest.raises(Conflict):
        services.edit_article(staff, other, title="Renamed", body="New text", slug="bank-feeds")
    db.session.refresh(other)
    assert (other.title, other.body, other.slug) == ("Other", "Original text", "other")
    assert count(Article) == 2 and taken.slug == "bank-feeds"
    assert count(ArticleRevision, ArticleRevision.article_id == other.id) == 1


def test_editing_with_bad_input_changes_nothing(app):
    staff = make_user("staff")
    article = make_article(staff, title="Kept title", body="Kept body")
    refused = [{"title": "", "body": "x"}, {"title": "t", "body": " "}, {"title": "t" * 201, "body": "x"},
               {"title": "t", "body": "x", "category_id": 424242}, {"title": "t", "body": "x", "slug": "A B"}]
    for kwargs in refused:
        with pytest.raises(Invalid):
            services.edit_article(staff, article, **kwargs)
    db.session.commit()  # whatever a refused edit left in the session would be saved now
    db.session.refresh(article)
    assert (article.title, article.body) == ("Kept title", "Kept body")
    assert count(ArticleRevision) == 1


# --- comparing and restoring -----------------------------------------------------------------------------


def test_two_revisions_compare_line_by_line_with_the_changed_words(app):
    staff = make_user("staff")
    article = make_article(staff, title="Old title", body="Step one\nClick the red button\nDone")
    services.edit_article(staff, article, title="New title",
                          body="Step one\nClick the green button\nDone\nExtra")
    old, new = sorted(services.revisions(staff, article), key=lambda r: r.number)
    comparison = services.compare_revisions(staff, article, old.id, new.id)
    assert [(line.kind, line.old_number, line.new_number) for line in comparison.body] == [
        ("equal", 1, 1), ("delete", 2, None), ("insert", None, 2), ("equal", 3, 3), ("insert", None, 4)]
    removed, added = comparison.body[1], comparison.body[2]
    assert [s.text for s in removed.segments if s.changed] == ["red"]
    assert [s.text for s in added.segments if s.changed] == ["green"]
    assert (comparison.added, comparison.removed) == (2, 1)
    assert [line.kind for line in comparison.title] == ["delete", "insert"]
    assert services.compare_revisions(staff, article, new.id, new.id).identical


def test_comparing_needs_two_versions_of_the_same_article(app):
    staff = make_user("staff")
    article, other = make_article(staff), make_article(staff)
    [mine], [theirs] = services.revisions(staff, article), services.revisions(staff, other)
    with pytest.raises(Invalid, match="belongs to another article"):
        services.compare_revisions(staff, article, mine.id, theirs.id)
    with pytest.raises(NotFound, match="no version #999999"):
        services.compare_revisions(staff, article, mine.id, 999_999)
    with pytest.raises(Invalid, match="Choose the versions"):
        services.compare_revisions(staff, article, "abc", None)
    with pytest.raises(Forbidden, match="history"):
        services.compare_revisions(make_user(), article, mine.id, mine.id)


def test_restoring_an_old_version_adds_a_new_revision(app):
    staff = make_user("staff")
    article = make_article(staff, title="Version one", body="Body one")
    services.edit_article(staff, article, title="Version two", body="Body two with **bold**")
    first = min(services.revisions(staff, article), key=lambda r: r.number)
    restored = services.restore_revision(staff, article, first.id)
    assert (restored.number, restored.note) == (3, "Restored version 1")
    assert (article.title, article.body, article.body_html) == ("Version one", "Body one", "<p>Body one</p>")
    assert [r.number for r in services.revisions(staff, article)] == [3, 2, 1]  # nothing lost
    with pytest.raises(Conflict, match="current text already"):
        services.restore_revision(staff, article, first.id)


def test_restoring_a_version_of_another_article_is_refused(app):
    staff = make_user("staff")
    article = make_article(staff, title="Mine", body="My text")
    other = make_article(staff, title="Theirs", body="Their text")
    [theirs] = services.revisions(staff, other)
    with pytest.raises(Invalid, match="belongs to another article"):
        services.restore_revision(staff, article, theirs.id)
    with pytest.raises(NotFound):
        services.restore_revision(staff, article, 987_654)
    db.session.refresh(article)
    assert (article.title, article.body) == ("Mine", "My text")
    with pytest.raises(Forbidden):
        services.restore_revision(make_user("advocate"), article, theirs.id)


# --- statuses and who sees what ------------------------------------------------------------------------


def test_status_transitions_and_who_sees_unpublished_articles(app):
    staff, member = make_user("staff"), make_user()
    article = make_article(staff, status="draft", slug="secret-plan")
    for viewer in (member, make_user("advocate"), None):
        with pytest.raises(NotFound):
            services.get_article(viewer, "secret-plan")
    assert services.get_article(staff, "secret-plan") == article
    services.set_status(staff, article, "published")
    first_published = article.published_at
    assert article.is_published and first_published is not None
    assert services.get_article(member, "secret-plan") == article
    services.set_status(staff, article, "archived")
    with pytest.raises(NotFound):
        services.get_article(member, "secret-plan")
    assert article.published_at == first_published  # kept while archived
    services.set_status(staff, article, "draft")
    assert article.status == "draft"
    with pytest.raises(Invalid, match="draft, published or archived"):
        services.set_status(staff, article, "deleted")
    with pytest.raises(Forbidden):
        services.set_status(member, article, "published")
    assert article.status == "draft"


def test_only_staff_delete_and_deleting_takes_history_and_feedback(app):
    staff = make_user("staff")
    article = make_article(staff)
    services.give_feedback(make_user(), article, "yes")
    open_to_advocates(article.category)
    with pytest.raises(Forbidden, match="archive it instead"):
        services.delete_article(make_user("advocate"), article)
    services.delete_article(staff, article)
    assert count(Article) == count(ArticleRevision) == count(ArticleFeedback) == 0


# --- advocates, per category ---------------------------------------------------------------------------


def test_advocates_write_only_where_an_admin_allowed_it(app):
    advocate, member = make_user("advocate"), make_user()
    allowed, closed = make_category("Bank feeds"), make_category("Billing")
    with pytest.raises(Forbidden, match="Only staff"):
        services.create_article(advocate, allowed.id, "Title", "Body")
    open_to_advocates(allowed)
    article = services.create_article(advocate, allowed.id, "Bank rules", "Body")
    assert article.author_id == advocate.id
    with pytest.raises(Forbidden, match="not one of them"):
        services.create_article(advocate, closed.id, "Title", "Body")
    with pytest.raises(Forbidden, match="not one of them"):  # nor move an article there
        services.edit_article(advocate, article, title="Bank rules", body="Body", category_id=closed.id)
    staff_article = make_article(category=closed, status="draft")
    with pytest.raises(Forbidden):
        services.edit_article(advocate, staff_article, title="x", body="y")
    with pytest.raises(NotFound):  # a draft outside their categories does not exist for them
        services.get_article(advocate, staff_article.slug)
    assert services.get_article(advocate, article.slug) == article  # their own draft
    with pytest.raises(Forbidden, match="Only staff"):
        services.create_article(member, allowed.id, "Title", "Body")
    assert [c.id for c in services.writable_categories(advocate)] == [allowed.id]
    assert [c.id for c in services.writable_categories(member)] == []
    assert {a.id for a in services.unpublished_articles(advocate)} == {article.id}
    open_to_advocates()  # the admin closes it again
    with pytest.raises(Forbidden):
        services.edit_article(advocate, article, title="x", body="y")


def test_only_admins_choose_where_advocates_write(app):
    category = make_category()
    with pytest.raises(Forbidden):
        services.set_advocate_categories(make_user("staff"), [category.id])
    with pytest.raises(Invalid, match="does not exist"):
        services.set_advocate_categories(make_user("admin"), [category.id, 424242])
    with pytest.raises(Invalid):
        services.set_advocate_categories(make_user("admin"), ["one"])
    assert services.advocate_categories() == frozenset()
    services.set_advocate_categories(make_user("admin"), [str(category.id)])
    assert services.advocate_categories() == {category.id}


# --- feedback --------------------------------------------------------------------------------------------


def test_feedback_is_one_updatable_answer_per_person_and_counted_for_staff(app):
    article = make_article()
    reader, other = make_user(), make_user()
    services.give_feedback(reader, article, "yes", "Clear, thanks")
    services.give_feedback(reader, article, "no", "Actually step 3 is wrong")  # replaces the first
    services.give_feedback(other, article, True)
    services.give_feedback(None, article, "no")  # not signed in: kept, keyed by nothing
    services.give_feedback(None, article, "no")
    summary = services.feedback_summary(make_user("staff"), article)
    assert (summary.helpful, summary.not_helpful, summary.anonymous, summary.total) == (1, 3, 2, 4)
    assert [c.comment for c in summary.comments] == ["Actually step 3 is wrong"]
    assert services.my_feedback(reader, article).helpful is False
    with pytest.raises(Forbidden):
        services.feedback_summary(make_user("advocate"), article)


@pytest.mark.parametrize(("helpful", "comment", "message"), [
    ("maybe", "", "Answer yes or no"),
    ("", "", "Answer yes or no"),
    ("yes", "c" * 1001, "under 1,000 characters"),
])
def test_bad_feedback_is_refused(app, helpful, comment, message):
    article = make_article()
    with pytest.raises(Invalid, match=message):
        services.give_feedback(make_user(), article, helpful, comment)
    assert count(ArticleFeedback) == 0


def test_feedback_is_for_published_articles(app):
    with pytest.raises(Invalid, match="published articles"):
        services.give_feedback(make_user(), make_article(status="draft"), "yes")


# --- promotion -------------------------------------------------------------------------------------------


def test_promoting_a_solved_thread_makes_a_linked_draft(app):
    category = make_category("Invoicing")
    db.session.add_all([Tag(name="vat"), Tag(name="rounding")])
    db.session.commit()
    thread = make_solved_thread(category=category, title="VAT is a penny off",
                                question="My VAT total differs by **1p**.",
                                answer="Use *round on invoice total*.", tags=["vat", "rounding"])
    staff = make_user("staff")
    article = services.promote_thread(staff, thread)
    assert (article.status, article.source_thread_id) == ("draft", thread.id)
    assert article.category_id == category.id
    assert article.title == "VAT is a penny off"
    assert article.body == "My VAT total differs by **1p**.\n\n## Answer\n\nUse *round on invoice total*."
    assert [t.name for t in article.tags] == ["rounding", "vat"]
    [revision] = services.revisions(staff, article)
    assert revision.note == f"Promoted from thread #{thread.id}"
    found = queries.thread_article(thread)
    assert (found.slug, found.status) == (article.slug, "draft")
    with pytest.raises(Conflict, match="already the article"):
        services.promote_thread(staff, thread)
    assert count(Article) == 1


def test_promotion_needs_a_solved_live_thread_and_a_writer(app):
    category = make_category()
    unsolved = make_thread(category=category)
    with pytest.raises(Invalid, match="Only a solved thread"):
        services.promote_thread(make_user("staff"), unsolved)
    solved = make_solved_thread(category=category)
    with pytest.raises(Forbidden):
        services.promote_thread(make_user(), solved)
    with pytest.raises(Forbidden):
        services.promote_thread(make_user("advocate"), solved)
    open_to_advocates(category)
    article = services.promote_thread(make_user("advocate"), solved)
    assert article.source_thread_id == solved.id
    gone = make_solved_thread(category=category)
    states.delete_thread(make_user("staff"), gone)
    with pytest.raises(NotFound):
        services.promote_thread(make_user("staff"), gone)
    assert count(Article) == 1


def test_the_thread_notice_query_says_where_advocates_write(app):
    category = make_category()
    thread = make_solved_thread(category=category)
    found = queries.thread_article(thread)
    assert (found.slug, found.advocates_in_thread_category) == (None, False)
    open_to_advocates(category)
    assert queries.thread_article(thread).advocates_in_thread_category is True


def test_a_category_holding_articles_is_not_deleted(app):
    from forum.models import Category

    category = make_category("Only articles", slug="only-articles")
    make_article(category=category)
    with pytest.raises(Conflict, match="holds 1 knowledge-base article"):
        categories.delete_category(make_user("admin"), category)
    assert db.session.get(Category, category.id) is not None
