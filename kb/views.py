"""Knowledge-base pages: home, categories, articles, writing and history, feedback, promotion of
solved threads, the staff article picker and the admins' choice of where advocates write."""

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.permissions import admin_required, login_required, public, staff_required
from core import ratelimit
from core.errors import DomainError
from core.forms import invalid_status, show_error
from core.paging import requested_page
from core.ratelimit import client_address
from forum import queries as forum_queries
from kb import forms, queries, services, viewcounts
from kb import permissions as can
from kb.models import ARCHIVED, DRAFT, PUBLISHED

bp = Blueprint("kb", __name__, url_prefix="/kb")

_STATUS_MESSAGES = {
    PUBLISHED: "Published: everyone can read it now, and search will find it shortly.",
    DRAFT: "Back to draft: only its writers see it.",
    ARCHIVED: "Archived: readers no longer see it; its writers still do.",
}


def _writer_context() -> dict:
    allowed = services.advocate_category_ids(current_user)
    return {"may_write": can.may_write_somewhere(current_user, allowed),
            "can_manage_settings": can.can_manage_settings(current_user)}


# --- reading ------------------------------------------------------------------------------------------


@bp.route("")
@public
def index():
    return render_template("kb/index.html", home=queries.home(), **_writer_context())


@bp.route("/")
@public
def index_with_slash():
    """`/kb/`, as people type it, sent on to the home page's one address."""
    return redirect(url_for("kb.index"), 301)


@bp.route("/c/<slug>")
@public
def view_category(slug):
    category = services.get_category_by_slug(slug)
    articles = queries.category_articles(category, requested_page())
    return render_template("kb/category.html", category=category, articles=articles, **_writer_context())


@bp.route("/<slug>")
@public
def view_article(slug):
    article = services.get_article(current_user, slug)
    if article.is_published:
        viewcounts.record(article.id)
    return _render_article(article)


def _render_article(article, feedback_form=None, status=200):
    mine = services.my_feedback(current_user, article) if article.is_published else None
    if feedback_form is None and article.is_published:
        feedback_form = forms.FeedbackForm(data={"comment": mine.comment} if mine else None)
    return render_template(
        "kb/article.html", article=article, related=queries.related(article),
        can_write=services.can_write(current_user, article),
        can_delete=can.can_delete_article(current_user),
        feedback=services.feedback_summary(current_user, article)
        if can.can_see_feedback(current_user) and article.is_published else None,
        feedback_form=feedback_form, my_feedback=mine,
    ), status


@bp.route("/<slug>/feedback", methods=["POST"])
@public
def give_feedback(slug):
    article = services.get_article(current_user, slug)
    form = forms.FeedbackForm()
    if not form.validate_on_submit():
        return _render_article(article, form, 400)
    try:
        # Signed-in readers have one answer each (a second replaces the first); anonymous answers
        # are each kept, so they are limited per address.
        with ratelimit.charge("feedback", client_address(), exempt=current_user.is_authenticated):
            services.give_feedback(current_user, article, form.helpful.data, form.comment.data)
    except DomainError as error:
        status = show_error(form, error)
        return _render_article(article, form, status)
    flash("Thank you: your answer helps us improve this article.", "success")
    return redirect(url_for("kb.view_article", slug=article.slug, _anchor="feedback"))


# --- writing -------------------------------------------------------------------------------------------


def _category_choices(current=None):
    categories = services.writable_categories(current_user)
    if current is not None and current.id not in {c.id for c in categories}:
        categories.append(current)
    return [("", "Choose a category…")] + [
        (str(c.id), f"{c.parent.name} › {c.name}" if c.parent is not None else c.name) for c in categories]


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_article():
    services.require_some_writing(current_user)
    form = forms.NewArticleForm()
    form.category_id.choices = _category_choices()
    if request.method == "GET" and request.args.get("category"):
        form.category_id.data = request.args["category"]
    if form.validate_on_submit():
        try:
            article = services.create_article(
                current_user, form.category_id.data, form.title.data, form.body.data, form.tags.data,
                form.slug.data, status=PUBLISHED if form.publish.data else DRAFT)
        except DomainError as error:
            status = show_error(form, error)
            return render_template("kb/edit.html", form=form, article=None), status
        flash(_STATUS_MESSAGES[PUBLISHED] if article.is_published
              else "Saved as a draft: only writers see it until it is published.", "success")
        return redirect(url_for("kb.view_article", slug=article.slug))
    return render_template("kb/edit.html", form=form, article=None), invalid_status(form)


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit_article(slug):
    article = services.get_article(current_user, slug)
    services.require_writer(current_user, article)
    form = forms.ArticleForm(data=None if request.method == "POST" else {
        "title": article.title, "slug": article.slug, "body": article.body,
        "category_id": str(article.category_id), "tags": ", ".join(t.name for t in article.tags)})
    form.category_id.choices = _category_choices(article.category)
    if form.validate_on_submit():
        try:
            services.edit_article(current_user, article, title=form.title.data, body=form.body.data,
                                  category_id=form.category_id.data, tags=form.tags.data, slug=form.slug.data)
        except DomainError as error:
            status = show_error(form, error)
            return render_template("kb/edit.html", form=form, article=article), status
        flash("Saved. Every version is kept in the history.", "success")
        return redirect(url_for("kb.view_article", slug=article.slug))
    return render_template("kb/edit.html", form=form, article=article), invalid_status(form)


@bp.route("/<slug>/status", methods=["POST"])
@login_required
def set_status(slug):
    article = services.get_article(current_user, slug)
    services.set_status(current_user, article, request.form.get("status", ""))
    flash(_STATUS_MESSAGES[article.status], "success")
    return redirect(url_for("kb.view_article", slug=article.slug))


@bp.route("/<slug>/delete", methods=["POST"])
@staff_required
def delete_article(slug):
    article = services.get_article(current_user, slug)
    title = article.title
    services.delete_article(current_user, article)
    flash(f"“{title}” is deleted, with its history and feedback.", "success")
    return redirect(url_for("kb.index"))


@bp.route("/drafts")
@login_required
def list_drafts():
    return render_template("kb/drafts.html", articles=services.unpublished_articles(current_user))


# --- history -----------------------------------------------------------------------------------------------


@bp.route("/<slug>/revisions")
@login_required
def article_history(slug):
    article = services.get_article(current_user, slug)
    return render_template("kb/history.html", article=article,
                           revisions=services.revisions(current_user, article))


@bp.route("/<slug>/compare")
@login_required
def compare_revisions(slug):
    article = services.get_article(current_user, slug)
    comparison = services.compare_revisions(current_user, article, request.args.get("from"),
                                            request.args.get("to"))
    return render_template("kb/compare.html", article=article, comparison=comparison)


@bp.route("/<slug>/revisions/<int:revision_id>/restore", methods=["POST"])
@login_required
def restore_revision(slug, revision_id):
    article = services.get_article(current_user, slug)
    revision = services.restore_revision(current_user, article, revision_id)
    flash(f"{revision.note}: it is now version {revision.number}.", "success")
    return redirect(url_for("kb.article_history", slug=article.slug))


# --- promotion -------------------------------------------------------------------------------------------


@bp.route("/promote/<int:thread_id>", methods=["GET", "POST"])
@login_required
def promote_thread(thread_id):
    thread = services.get_thread(current_user, thread_id)
    if request.method == "POST":
        article = services.promote_thread(current_user, thread)
        flash("A draft article is made from the thread. Edit it into shape, then publish it.", "success")
        return redirect(url_for("kb.edit_article", slug=article.slug))
    return render_template("kb/promote.html", promotion=services.promotion_for(current_user, thread))


# --- staff and admin tools ----------------------------------------------------------------------------------


def _markdown_link(article) -> str:
    title = article.title.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{title}]({url_for('kb.view_article', slug=article.slug)})"


@bp.route("/picker.json")
@staff_required
def picker():
    return jsonify(results=[
        {"title": a.title, "url": url_for("kb.view_article", slug=a.slug), "markdown": _markdown_link(a)}
        for a in queries.picker(request.args.get("q", ""))
    ])


@bp.route("/admin/categories", methods=["GET", "POST"])
@admin_required
def manage_settings():
    if request.method == "POST":
        services.set_advocate_categories(current_user, request.form.getlist("advocates"))
        flash("Saved: advocates write in the ticked categories.", "success")
        return redirect(url_for("kb.manage_settings"))
    return render_template("kb/settings.html", tree=forum_queries.categories_tree(),
                           open_ids=services.advocate_categories())
