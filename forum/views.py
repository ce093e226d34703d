"""Forum pages: lists, threads, asking, answering, editing, accepting, voting, following."""

import logging
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from accounts.permissions import admin_required, is_staff, login_required, public, staff_required
from core import ratelimit, signals
from core.errors import DomainError, Invalid, NotFound
from core.extensions import csrf, db, login_manager
from core.forms import invalid_status, show_error
from core.ids import possible_id
from core.pagecache import cached_for_anonymous
from core.paging import requested_page
from forum import (
    askflows,
    categories,
    follows,
    forms,
    hooks,
    notices,
    queries,
    rendering,
    restructure,
    services,
    states,
    viewcounts,
)
from forum import jobs as forum_jobs
from forum.models import CLOSE_REASONS, TAGS_PER_THREAD, TITLE_MAX, Category, Tag
from forum.permissions import (
    TAG_CREATORS,
    can_accept,
    can_create_tags,
    can_moderate,
    can_reply,
    can_see_urgent_reason,
    post_rights,
)
from forum.visibility import can_see_thread

bp = Blueprint("forum", __name__)
log = logging.getLogger(__name__)


def _render_list(which: str, title: str, endpoint: str, **scope):
    options = queries.ListOptions.from_args(request.args)
    signed_in = current_user.is_authenticated
    if options.mine and not signed_in:  # "my topics" means someone's: sign in, then come back here
        return login_manager.unauthorized()
    viewer = current_user._get_current_object() if signed_in else None
    page, counts = queries.list_threads(which, page=requested_page(), options=options, follower=viewer,
                                        **scope)
    follow = None
    if signed_in:
        follow = follows.follow_state(viewer, scope.get("category"), scope.get("tag"))
    endpoint_args = request.view_args or {}
    category = scope.get("category")
    return render_template(
        "forum/list.html", threads=page, which=which, title=title, endpoint=endpoint,
        endpoint_args=endpoint_args, options=options, follow=follow,
        list_controls=rendering.list_controls(endpoint, endpoint_args, which, options, counts, queries.SORTS,
                                              signed_in),
        sidebar=rendering.list_sidebar(category.id if category is not None else None, signed_in), **scope)


@bp.route("/")
@public
@cached_for_anonymous
def index():
    return _render_list("latest", "Latest questions", "forum.list_threads")


@bp.route("/threads/<any(latest, unanswered, unsolved, solved):which>")
@public
@cached_for_anonymous
def list_threads(which):
    return _render_list(which, f"{queries.LISTS[which]} questions", "forum.list_threads")


@bp.route("/c/<slug>", defaults={"which": "latest"})
@bp.route("/c/<slug>/<any(latest, unanswered, unsolved, solved):which>")
@public
@cached_for_anonymous
def view_category(slug, which):
    category = db.session.scalar(db.select(Category).where(Category.slug == slug)) or abort(404)
    return _render_list(which, category.name, "forum.view_category", category=category)


@bp.route("/tags/<name>", defaults={"which": "latest"})
@bp.route("/tags/<name>/<any(latest, unanswered, unsolved, solved):which>")
@public
@cached_for_anonymous
def view_tag(name, which):
    tag = db.session.scalar(db.select(Tag).where(Tag.name == name.lower())) or abort(404)
    return _render_list(which, f"Tagged “{tag.name}”", "forum.view_tag", tag=tag)


@bp.route("/my/questions", defaults={"which": "latest"})
@bp.route("/my/questions/<any(latest, unanswered, unsolved, solved):which>")
@login_required
def my_questions(which):
    return _render_list(which, "My questions", "forum.my_questions",
                        author=current_user._get_current_object())


@bp.route("/c/<slug>/follow", methods=["POST"])
@login_required
def follow_category(slug):
    category = db.session.scalar(db.select(Category).where(Category.slug == slug)) or abort(404)
    return _set_following(category.name, url_for("forum.view_category", slug=category.slug),
                          category=category)


@bp.route("/tags/<name>/follow", methods=["POST"])
@login_required
def follow_tag(name):
    tag = db.session.scalar(db.select(Tag).where(Tag.name == name.lower())) or abort(404)
    return _set_following(f"the tag “{tag.name}”", url_for("forum.view_tag", name=tag.name), tag=tag)


def _set_following(named: str, page: str, **topic):
    """Follow or stop following a category or a tag (`topic`), as the form asked; back to `page`."""
    if request.form.get("follow") == "1":
        follows.follow_topic(current_user, **topic)
        flash(f"You follow {named}: its questions are in “My topics”.", "success")
    else:
        follows.unfollow_topic(current_user, **topic)
        flash(f"You no longer follow {named}.", "info")
    return redirect(_followed_from() or page)


def _followed_from() -> str | None:
    """Back to the page of followed topics when the button was pressed there."""
    return url_for("forum.my_topics") if request.form.get("back") == "topics" else None


@bp.route("/my/topics")
@login_required
def my_topics():
    followed_categories, followed_tags = follows.followed_topics(current_user)
    return render_template("forum/topics.html", followed_categories=followed_categories,
                           followed_tags=followed_tags)


@bp.route("/tags")
@public
def list_tags():
    return render_template("forum/tags.html", tags=queries.all_tags())


@bp.route("/tag-suggestions")  # not under /tags/: "suggest" could be a tag's name
@public
def suggest_tags():
    """JSON for the tags fields' suggestions: `{"tags": [{"name", "threads"}]}`, the same for
    everyone, so browsers may keep it for a minute (shared caches only for people not signed in,
    whose responses carry no session cookie)."""
    response = jsonify(tags=queries.suggest_tags(request.args.get("q", "")))
    if current_user.is_authenticated:
        response.cache_control.private = True
    else:
        response.cache_control.public = True
    response.cache_control.max_age = 60
    return response


# --- asking -----------------------------------------------------------------------------------------


def _category_choices(links=None):
    """A form's category choices, read now; or from `links` (the thread page's move picker takes the
    memoised queries.category_links(): a move is checked against the categories when it is sent)."""
    choices = [("", "Choose a category…")]
    for parent, children in links if links is not None else queries.category_links_now():
        choices.append((str(parent.id), parent.name))
        choices += [(str(child.id), f"{parent.name} › {child.name}") for child in children]
    return choices


@bp.route("/ask", methods=["GET", "POST"])
@public
def ask():
    """The ask form. Visitors who are not signed in get its first half (the title with its
    suggestions, and the category) and sign in or up to write the rest, taking their flow along."""
    if not current_user.is_authenticated:
        if request.method not in ("GET", "HEAD"):
            return login_manager.unauthorized()
        return _ask_anonymously()
    form = forms.AskForm()
    form.category_id.choices = _category_choices()
    form.tags.description = _tags_help(current_user)
    if request.method == "GET":
        if request.args.get("category"):
            form.category_id.data = request.args["category"]
        form.title.data = request.args.get("title", "")[:TITLE_MAX] or None
        form.flow.data = request.args.get("flow")  # carried through sign-in from the anonymous form
    if not askflows.may_carry_on(current_user, form.flow.data):
        form.flow.data = askflows.new_ask_flow(current_user)
    if not form.is_submitted():
        return render_template("forum/ask.html", form=form)
    shaped = form.validate()
    question = {"category_id": form.category_id.data, "title": form.title.data, "body": form.body.data,
                "tags": form.tags.data, "urgent": form.urgent.data, "urgent_reason": form.urgent_reason.data,
                "minimum_lengths": True}
    try:
        if not shaped:
            # Every problem at once: the form's own (its token, absurd lengths) and the rules' too.
            services.check_question(current_user, **question)
            return render_template("forum/ask.html", form=form), 400
        with ratelimit.charge("question", current_user.id, exempt=is_staff(current_user)):
            thread = services.create_thread(current_user, **question, ask_flow=form.flow.data)
    except DomainError as error:
        status = show_error(form, error, beside_form_errors=False)
        return render_template("forum/ask.html", form=form), status
    if thread.is_visible:
        flash("Your question is posted. You will be notified of answers.", "success")
    else:
        flash("Your question is saved and waits for a moderator's review; others will see it once "
              "it is approved.", "info")
    _tell_unknown_mentions(form.body.data)
    return redirect(url_for("forum.view_thread", thread_id=thread.id))


def _tags_help(user) -> Markup:
    """The tags field's help: how to write them, and who may make new ones."""
    listed = Markup('<a href="{}" target="_blank" rel="noopener">all tags (opens in a new tab)</a>').format(
        url_for("forum.list_tags"))
    if can_create_tags(user):
        return Markup("Up to {}, separated by commas; see {}. A tag that does not exist yet is made when you "
                      "save.").format(TAGS_PER_THREAD, listed)
    return Markup("Up to {}, separated by commas, from the existing tags (see {}). {} can create new "
                  "tags; ask them if one is missing.").format(TAGS_PER_THREAD, listed, TAG_CREATORS)


def _ask_anonymously():
    # No CSRF token: it would set a session cookie, and an anonymous flow carries nothing but its
    # random token. The form goes by GET to ask_continue, which changes nothing.
    form = forms.AskForm(meta={"csrf": False}, formdata=None)
    form.category_id.choices = _category_choices()
    form.category_id.data = request.args.get("category", "")
    form.title.data = request.args.get("title", "")[:TITLE_MAX] or None
    form.flow.data = askflows.new_ask_flow(current_user)
    return render_template("forum/ask.html", form=form, anonymous=True)


@bp.route("/ask/continue")
@public
def ask_continue():
    """The anonymous ask form's buttons: sign in (or up), then back to the ask form with the title,
    the category and the flow."""
    title = request.args.get("title", "").strip()
    category = possible_id(request.args.get("category_id"))
    flow = request.args.get("flow", "")
    flow = flow if askflows.is_anonymous_flow(flow) else None
    # Sign-in follows a `next` of up to 2000 characters: a title of 200 emoji is shortened to fit.
    for length in (TITLE_MAX, 100, 50, 0):
        back = url_for("forum.ask", title=title[:length] or None, category=category, flow=flow)
        if len(back) <= 1500:
            break
    if current_user.is_authenticated:
        return redirect(back)
    endpoint = "accounts.sign_up" if request.args.get("to") == "signup" else "accounts.sign_in"
    return redirect(url_for(endpoint, next=back))


@bp.route("/ask/suggestions")
@public
def ask_suggestions():
    return jsonify(results=askflows.ask_suggestions(request.args.get("title", "")))


@bp.route("/ask/opened", methods=["POST"])
@public
@csrf.exempt  # checked below for people signed in; for others the signed flow token is the credential
def ask_suggestion_opened():
    """The ask form's script reports an opened suggestion (navigator.sendBeacon): 204, or an error.
    Counted per account, or per address for people not signed in (the address is not stored)."""
    if current_user.is_authenticated:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        limit = ("ask-opened", current_user.id)
    else:
        limit = ("ask-opened-address", ratelimit.client_address())
    try:
        with ratelimit.charge(*limit):
            askflows.record_suggestion_opened(current_user, request.form.get("flow", ""),
                                              request.form.get("doc", ""), request.form.get("category", ""))
    except DomainError as error:
        return jsonify(error=error.message), error.status_code
    return "", 204


# --- writing ----------------------------------------------------------------------------------------


def _tell_unknown_mentions(body: str | None) -> None:
    """After a save: name the @names that matched nobody, so the writer knows nobody was told."""
    missed = services.unknown_mentions(body)
    if missed:
        names = ", ".join(f"@{name}" for name in missed[:5]) + (" and others" if len(missed) > 5 else "")
        which = "that name" if len(missed) == 1 else "those names"
        flash(f"Nobody here is called {names}, so nobody was notified for {which}. Check the spelling, or "
              "edit the post and pick a name from the list that opens as you type “@”.", "warning")


@bp.route("/preview", methods=["POST"])
@login_required
def preview_markdown():
    """The Markdown boxes' Preview tab (static/js/preview.js): the text rendered and sanitised as it
    would be once saved, as JSON `{"html": ...}`, or `{"error": ...}` with 400, 413 or 429."""
    try:
        with ratelimit.charge("preview", current_user.id):
            html = services.preview_body(request.form.get("body", ""))
    except DomainError as error:
        return jsonify(error=error.message), error.status_code
    return jsonify(html=str(html))


# --- a thread -----------------------------------------------------------------------------------------


def _thread_or_404(thread_id):
    try:
        return services.get_thread(current_user, thread_id)
    except NotFound:
        abort(404)


@dataclass(frozen=True)
class PostActions:
    vote: bool = False
    edit: bool = False
    delete: bool = False
    flag: str = ""  # the endpoint of the flag page (forum.hooks.flag_endpoint) when the viewer may flag


_NO_ACTIONS = PostActions()


def _post_actions(view) -> dict[int, PostActions]:
    """What the viewer may do with each post shown, worked out once rather than in the template."""
    if not current_user.is_authenticated:
        return {}
    viewer = current_user._get_current_object()
    posts = [post for post in (view.question, view.accepted, *view.answers.items) if post is not None]
    rights = post_rights(viewer, posts)  # {} when the viewer may not take part: no flagging either
    flagging = hooks.flag_endpoint[0] if hooks.flag_endpoint and rights else ""
    return {post.id: PostActions(*rights[post.id], flagging if post.author_id != viewer.id else "")
            for post in posts if post.id in rights}


def _render_thread(thread, reply_form=None, status=200):
    view = queries.thread_page(thread, current_user, page=requested_page())
    g.posts_shown = 1 + (view.accepted is not None) + len(view.answers.items)
    replying = can_reply(current_user, thread)  # the answer box (forum.rendering.reply_box) shows
    moderating = can_moderate(current_user)
    return render_template(
        "forum/thread.html", view=view, thread=thread, reply_form=reply_form,
        following=notices.is_following(current_user, thread),
        can_reply=replying, can_accept=can_accept(current_user, thread),
        actions=_post_actions(view), no_actions=_NO_ACTIONS,
        can_moderate=moderating,
        notices=hooks.notices_for(thread),
        reply_tools=hooks.reply_tools if moderating else (),
        thread_tools=hooks.thread_tools if current_user.is_authenticated else (),
        close_reasons=CLOSE_REASONS if moderating else {},
        move_to=_category_choices(queries.category_links())[1:] if moderating else [],
        sees_urgent_reason=can_see_urgent_reason(current_user, thread),
    ), status


@bp.route("/t/<int:thread_id>")
@bp.route("/t/<int:thread_id>/<slug>")
@public
def view_thread(thread_id, slug=None):
    viewcounts.record(thread_id)  # counted even when the page comes from the cache
    return _cached_thread(thread_id)


@cached_for_anonymous
def _cached_thread(thread_id):
    thread = queries.thread_view(thread_id, current_user.id if current_user.is_authenticated else None)
    if thread is None or not can_see_thread(current_user, thread):
        abort(404)
    if thread.is_merged and not can_moderate(current_user):
        return _to_merged(thread)
    # Opening a thread reads the viewer's notices about it. One query counts their unread notices
    # and this thread's (the header shows what will be left), so a view writes only when there is
    # something to mark read; it does so once the page is rendered, as the commit expires the
    # signed-in person, whom the page would otherwise load again.
    here = 0
    if current_user.is_authenticated:
        unread = notices.unread_total(current_user)
        if unread:  # loaded with the person: only someone with unread notices needs this thread's counted
            unread, here = notices.unread_counts(current_user, thread.id)
        g.unread_notifications = unread - here
    page = _render_thread(thread)
    if current_user.is_authenticated and signals.thread_viewed.receivers:
        signals.thread_viewed.send(thread.id, viewer_id=current_user.id, posts=g.pop("posts_shown", 0))
    if here:
        try:
            notices.mark_thread_read(current_user, thread.id)
        except SQLAlchemyError:  # the page is worth more than the mark: the next view tries again
            db.session.rollback()
            log.warning("could not mark notices of thread %s read", thread.id, exc_info=True)
    return page


def _to_merged(thread):
    """A merged thread's address leads to the thread it was merged into (staff see it as it is). Its
    notices are read on the way: they would otherwise stay unread, as it is never shown."""
    if current_user.is_authenticated and notices.unread_counts(current_user, thread.id)[1]:
        try:
            notices.mark_thread_read(current_user, thread.id)
        except SQLAlchemyError:  # the way on is worth more than the mark
            db.session.rollback()
            log.warning("could not mark notices of merged thread %s read", thread.id, exc_info=True)
    return redirect(url_for("forum.view_thread", thread_id=thread.merged_into_id), 301)


@bp.route("/t/<int:thread_id>/reply", methods=["POST"])
@login_required
def reply(thread_id):
    thread = _thread_or_404(thread_id)
    form = forms.ReplyForm()
    if not form.validate_on_submit():
        return _render_thread(thread, form, 400)
    try:
        with ratelimit.charge("reply", current_user.id, exempt=is_staff(current_user)):
            post = services.create_post(current_user, thread, form.body.data)
    except DomainError as error:
        status = show_error(form, error)
        return _render_thread(thread, form, status)
    if post.is_visible:
        flash("Your answer is posted.", "success")
    else:
        flash("Your answer is saved and waits for a moderator's review; others will see it once it is "
              "approved.", "info")
    _tell_unknown_mentions(form.body.data)
    return redirect(url_for("forum.view_thread", thread_id=thread.id, _anchor=f"post-{post.id}"))


def _post_or_404(post_id):
    try:
        return services.get_post(current_user, post_id)
    except NotFound:
        abort(404)


def _back_to(post, anchor=True):
    return redirect(url_for("forum.view_thread", thread_id=post.thread_id,
                            _anchor=f"post-{post.id}" if anchor else None))


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit_post(post_id):
    post = _post_or_404(post_id)
    services.check_can_edit_post(current_user, post)  # a 403 that says why (a locked thread, say)
    thread = post.thread
    form = forms.EditPostForm(
        data=None if request.method == "POST" else {
            "title": thread.title, "body": post.body,
            "tags": ", ".join(t.name for t in thread.tags)})
    form.tags.description = _tags_help(current_user)
    if form.validate_on_submit():
        try:
            services.edit_post(current_user, post, form.body.data,
                               title=form.title.data if post.is_question else None,
                               tags=form.tags.data if post.is_question else None,
                               summary=form.summary.data)
        except DomainError as error:
            status = show_error(form, error)
            return render_template("forum/edit_post.html", form=form, post=post), status
        flash("Saved. The previous version is kept in the history.", "success")
        _tell_unknown_mentions(form.body.data)
        return _back_to(post, anchor=not post.is_question)
    return render_template("forum/edit_post.html", form=form, post=post), invalid_status(form)


@bp.route("/posts/<int:post_id>/revisions")
@public
def post_revisions(post_id):
    post = _post_or_404(post_id)
    return render_template("forum/revisions.html", post=post, revisions=services.revisions(post))


@bp.route("/posts/<int:post_id>/delete", methods=["POST"])
@login_required
def delete_post(post_id):
    post = _post_or_404(post_id)
    states.delete_post(current_user, post, request.form.get("reason", ""))
    if post.is_question:
        flash("The question is deleted.", "success")
        return redirect(url_for("forum.index"))
    flash("The answer is deleted.", "success")
    return _back_to(post, anchor=False)


@bp.route("/posts/<int:post_id>/restore", methods=["POST"])
@staff_required
def restore_post(post_id):
    post = _post_or_404(post_id)
    states.restore_post(current_user, post)
    flash("Restored.", "success")
    return _back_to(post)


@bp.route("/posts/<int:post_id>/hide", methods=["POST"])
@staff_required
def hide_post(post_id):
    post = _post_or_404(post_id)
    states.hide_post(current_user, post, request.form.get("reason", ""))
    flash("Hidden: only staff see it now." if not post.is_question
          else "The thread is hidden: only staff see it now.", "success")
    return _back_to(post)


@bp.route("/posts/<int:post_id>/unhide", methods=["POST"])
@staff_required
def unhide_post(post_id):
    post = _post_or_404(post_id)
    states.unhide_post(current_user, post)
    flash("Visible to everyone again.", "success")
    return _back_to(post)


@bp.route("/posts/<int:post_id>/accept", methods=["POST"])
@login_required
def accept_answer(post_id):
    post = _post_or_404(post_id)
    thread = services.accept_answer(current_user, post)
    if thread.author_id != current_user.id:
        flash("Accepted for the asker. The thread is marked solved, and says who accepted it.", "success")
    else:
        flash("Accepted. The thread is marked solved.", "success")
    return _back_to(post)


@bp.route("/t/<int:thread_id>/unaccept", methods=["POST"])
@login_required
def unaccept_answer(thread_id):
    thread = _thread_or_404(thread_id)
    services.unaccept_answer(current_user, thread)
    flash("The accepted answer is withdrawn; the thread is open again.", "info")
    return redirect(url_for("forum.view_thread", thread_id=thread.id))


@bp.route("/posts/<int:post_id>/vote", methods=["POST"])
@login_required
def vote(post_id):
    post = _post_or_404(post_id)
    value = {"up": 1, "down": -1, "clear": 0}.get(request.form.get("value", ""))
    if value is None:
        abort(400)
    with ratelimit.charge("vote", current_user.id):
        services.vote(current_user, post, value)
    return _back_to(post)


@bp.route("/t/<int:thread_id>/follow", methods=["POST"])
@login_required
def follow_thread(thread_id):
    thread = _thread_or_404(thread_id)
    following = request.form.get("follow") == "1"
    notices.set_following(current_user, thread, following)
    flash("You follow this thread." if following else "You no longer follow this thread.", "info")
    return redirect(url_for("forum.view_thread", thread_id=thread.id))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
@csrf.exempt  # the signed token in the link is the credential (RFC 8058 one-click)
def unsubscribe(token):
    subscription_id = forum_jobs.subscription_id_from(token)
    if subscription_id is None:
        abort(404)
    if request.method == "POST":
        subscription = notices.unsubscribe(subscription_id)
        return render_template("forum/unsubscribed.html", thread=subscription.thread)
    return render_template("forum/unsubscribe.html", token=token)


def _thread_action(thread_id, service, message):
    """A POST that changes a thread's state; a refusal is the service's message with its status."""
    thread = _thread_or_404(thread_id)
    service(current_user, thread)
    flash(message, "success")
    return redirect(url_for("forum.view_thread", thread_id=thread.id))


@bp.route("/t/<int:thread_id>/lock", methods=["POST"])
@staff_required
def lock_thread(thread_id):
    locked = request.form.get("locked") == "1"
    return _thread_action(thread_id, lambda u, t: states.set_locked(u, t, locked),
                          "Thread locked." if locked else "Thread unlocked.")


@bp.route("/t/<int:thread_id>/close", methods=["POST"])
@staff_required
def close_thread(thread_id):
    reason, note = request.form.get("reason", ""), request.form.get("note", "")
    return _thread_action(thread_id, lambda u, t: states.close_thread(u, t, reason, note), "Thread closed.")


@bp.route("/t/<int:thread_id>/reopen", methods=["POST"])
@staff_required
def reopen_thread(thread_id):
    return _thread_action(thread_id, states.reopen_thread, "Thread reopened.")


@bp.route("/t/<int:thread_id>/move", methods=["POST"])
@staff_required
def move_thread(thread_id):
    category_id = request.form.get("category_id", "")
    return _thread_action(thread_id, lambda u, t: states.move_thread(u, t, category_id), "Thread moved.")


@bp.route("/t/<int:thread_id>/pin", methods=["POST"])
@staff_required
def pin_thread(thread_id):
    return _thread_action(thread_id, states.pin_thread, "Pinned: it comes first in the latest lists.")


@bp.route("/t/<int:thread_id>/unpin", methods=["POST"])
@staff_required
def unpin_thread(thread_id):
    return _thread_action(thread_id, states.unpin_thread, "Unpinned: it takes its place by activity again.")


@bp.route("/t/<int:thread_id>/merge", methods=["GET", "POST"])
@staff_required
def merge_thread(thread_id):
    """Merge this thread into another: staff name that one, see which it is, and confirm."""
    thread = _thread_or_404(thread_id)
    form = forms.MergeForm()
    if not form.validate_on_submit():
        return render_template("forum/merge.html", form=form, thread=thread), invalid_status(form)
    try:
        if form.confirm.data != "yes":
            target = restructure.merge_target(current_user, thread, form.target.data)
            return render_template("forum/merge.html", form=form, thread=thread, target=target)
        target = restructure.merge_thread(current_user, thread, form.target.data)
    except DomainError as error:
        status = show_error(form, error)
        return render_template("forum/merge.html", form=form, thread=thread), status
    flash(f"Merged: the answers and followers of “{thread.title}” are here now, and its address "
          "leads here.", "success")
    return redirect(url_for("forum.view_thread", thread_id=target.id))


@bp.route("/t/<int:thread_id>/split", methods=["GET", "POST"])
@staff_required
def split_thread(thread_id):
    """Split answers off into a new thread: staff tick them and give the new thread a title."""
    thread = _thread_or_404(thread_id)
    form = forms.SplitForm()
    form.category_id.choices = _category_choices()[1:]
    if request.method == "GET":
        form.category_id.data = str(thread.category_id)
    if not form.validate_on_submit():
        return _render_split(thread, form, invalid_status(form))
    try:
        new = restructure.split_thread(current_user, thread, form.post_ids.data, form.title.data,
                                       form.category_id.data)
    except DomainError as error:
        return _render_split(thread, form, show_error(form, error))
    flash(f"Split off: {new.reply_count + 1} posts are in this new thread now.", "success")
    return redirect(url_for("forum.view_thread", thread_id=new.id))


def _render_split(thread, form, status):
    return render_template("forum/split.html", thread=thread, form=form, answers=queries.answers_of(thread),
                           picked=set(form.post_ids.data or ())), status


@bp.route("/t/<int:thread_id>/urgency", methods=["POST"])
@login_required
def set_urgency(thread_id):
    urgent = request.form.get("urgent") == "1"
    reason = request.form.get("urgent_reason", "")
    return _thread_action(thread_id, lambda u, t: states.set_urgent(u, t, urgent, reason),
                          "Marked urgent: staff will see it first." if urgent else "No longer marked urgent.")


# --- notifications ------------------------------------------------------------------------------------


@bp.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    if request.method == "POST":
        notices.mark_notifications_read(current_user)
        return redirect(url_for("forum.notifications"))
    return render_template("forum/notifications.html",
                           notices=notices.notifications_for(current_user))


@bp.route("/notifications/<int:notice_id>")
@login_required
def open_notice(notice_id):
    """A notice opened from the list: read now, then on to what it is about (the list itself
    when it is about nothing that has a page). Someone else's notice is a 404."""
    try:
        target, unread = notices.open_notice(current_user, notice_id)
    except NotFound:
        abort(404)
    if unread:  # the thread page, if that is where it leads, reads the thread's others
        try:
            notices.mark_notice_read(current_user, notice_id)
        except SQLAlchemyError:  # the way on is worth more than the mark: it stays unread
            db.session.rollback()
            log.warning("could not mark notice %s read", notice_id, exc_info=True)
    return redirect(target or url_for("forum.notifications"), 303)


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def notification_settings():
    """Per kind of notice: in the app only, in the app and by mail at once, in a daily digest, or none."""
    status = 200
    if request.method == "POST":
        choices = {key.removeprefix("kind-"): value for key, value in request.form.items()
                   if key.startswith("kind-")}
        try:
            if not choices:
                raise Invalid("Choose how to get at least one kind of notification.")
            notices.set_preferences(current_user, choices)
        except DomainError as error:
            flash(error.message, "error")
            status = error.status_code
        else:
            flash("Your notification settings are saved.", "success")
            return redirect(url_for("forum.notification_settings"))
    return render_template("forum/notification_settings.html", lines=notices.preferences_for(current_user),
                           deliveries=notices.DELIVERIES), status


# --- categories (admins) --------------------------------------------------------------------------------


def _category_form(category=None):
    form = forms.CategoryForm(obj=category if request.method == "GET" else None)
    if request.method == "GET" and category is not None:
        form.parent_id.data = str(category.parent_id or "")
    form.parent_id.choices = [("", "Top level")] + [
        (str(c.id), c.name) for c, _children in queries.categories_tree()
        if category is None or c.id != category.id]
    return form


def _save_category(target, form, template, **context):
    if form.validate_on_submit():
        try:
            categories.save_category(current_user, target, name=form.name.data, slug=form.slug.data,
                                   description=form.description.data, position=form.position.data,
                                   parent_id=form.parent_id.data)
        except DomainError as error:
            status = show_error(form, error)
            return render_template(template, form=form, **context), status
        flash("Category saved.", "success")
        return redirect(url_for("forum.manage_categories"))
    return render_template(template, form=form, **context), invalid_status(form)


@bp.route("/admin/categories", methods=["GET", "POST"])
@admin_required
def manage_categories():
    return _save_category(None, _category_form(), "forum/categories.html", tree=queries.categories_tree())


@bp.route("/admin/categories/<int:category_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_category(category_id):
    category = db.session.get(Category, category_id) or abort(404)
    return _save_category(category, _category_form(category), "forum/edit_category.html",
                          category=category)


@bp.route("/admin/categories/<int:category_id>/delete", methods=["POST"])
@admin_required
def delete_category(category_id):
    category = db.session.get(Category, category_id) or abort(404)
    categories.delete_category(current_user, category)
    flash("Category deleted.", "success")
    return redirect(url_for("forum.manage_categories"))


@bp.app_context_processor
def _unread_notifications():
    def unread() -> int:
        if not current_user.is_authenticated:
            return 0
        if "unread_notifications" in g:  # counted already (a thread page)
            return g.unread_notifications
        return notices.unread_total(current_user)
    return {"unread_notifications": unread}
