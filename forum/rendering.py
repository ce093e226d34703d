"""List rows and posts drawn through core.fragments, keyed by every value they show."""

from flask import render_template
from markupsafe import Markup

from core import pagecache
from core.extensions import csrf_token
from core.fragments import render_fragment, render_fragment_with_slot, render_fragments_with_slot
from core.templating import timeago


def _when(value) -> tuple:
    return (value.isoformat(), timeago(value)) if value is not None else None


def thread_row(thread) -> Markup:
    """One thread in a list (`forum/_thread_row.html`): a Thread or a queries.ThreadRow."""
    key = (
        thread.id, thread.title, thread.reply_count, thread.view_count, thread.is_solved,
        thread.is_urgent, thread.is_closed, thread.is_pinned, thread.category.slug, thread.category.name,
        tuple(tag.name for tag in thread.tags), thread.author.username, thread.author.display_name,
        _when(thread.created_at), getattr(thread, "votes", 0),
    )
    return render_fragment("forum/_thread_row.html", key, thread=thread)


def list_controls(endpoint: str, endpoint_args: dict, which: str, options, counts: dict, sorts: dict,
                  signed_in: bool) -> Markup:
    """A list's tabs, with every list's count, and its sort and filter form (`forum/_list_controls.html`):
    the same for every reader of that list in that state."""
    key = (endpoint, tuple(sorted(endpoint_args.items())), which, options, tuple(counts.items()),
           tuple(sorts.items()), signed_in)
    return render_fragment("forum/_list_controls.html", key, endpoint=endpoint, endpoint_args=endpoint_args,
                           which=which, options=options, counts=counts, sorts=sorts, signed_in=signed_in)


def list_sidebar(category_id: int | None, signed_in: bool) -> Markup:
    """The lists' sidebar (`forum/_sidebar.html`): the categories, with the current one marked, and for
    someone signed in the links to their topics. Kept under the content version, as the category
    links it draws are (every category change bumps it)."""
    from forum import queries

    def draw() -> Markup:
        return Markup(render_template("forum/_sidebar.html", categories=queries.category_links(),  # noqa: S704
                                      category_id=category_id, signed_in=signed_in))

    return pagecache.memoized(("list-sidebar", category_id, signed_in), draw)


def staff_tools(thread, question_id: int, close_reasons: dict, move_to: list) -> Markup:
    """A thread's staff tools (`forum/_staff_tools.html`): the same for every staff member but for
    their token (its slot), so drawn once per state of the thread."""
    key = (thread.id, thread.category_id, thread.is_locked, thread.is_closed, thread.is_merged,
           thread.is_visible, thread.is_pinned, thread.is_deleted, thread.state, thread.reply_count,
           question_id, tuple(close_reasons.items()), tuple(move_to))
    return render_fragment_with_slot("forum/_staff_tools.html", key, csrf_token, thread=thread,
                                     question_id=question_id, close_reasons=close_reasons, move_to=move_to)


def reply_box(thread_id: int, form=None) -> Markup:
    """The fields of a thread page's answer box (`forum/_reply_box.html`). Empty, as a reader first
    gets it, it is the same for everyone but the thread and the viewer's token (its slot), so it is
    drawn once per thread; a refused answer (`form`, with what was typed and why) is drawn afresh."""
    if form is not None:
        return Markup(render_template("forum/_reply_box.html", reply_form=form, thread_id=thread_id,  # noqa: S704
                                      slot=csrf_token()))

    def empty_form() -> dict:
        from forum.forms import ReplyForm

        return {"reply_form": ReplyForm(formdata=None)}

    return render_fragment_with_slot("forum/_reply_box.html", (thread_id,), csrf_token, lazy=empty_form,
                                     thread_id=thread_id)


def _post(post, view, may, can_accept: bool, can_moderate: bool) -> tuple[tuple, dict]:
    """A post's fragment key and context (`forum/_post.html`), with what this viewer may do to it."""
    thread = view.thread
    accepted = thread.accepted_post_id == post.id
    mine = view.my_votes.get(post.id, 0)
    reputation = view.reputation.get(post.author_id, 0)
    # Staff who are not the asker accept on the asker's behalf, and the button says so, by name.
    asker = view.question.author.display_name if view.question is not None else ""
    for_asker = asker if can_accept and view.viewer_id != thread.author_id else ""
    key = (
        post.id, post.kind, post.body_html, post.score, post.author_role, post.author.username,
        post.author.display_name, _when(post.created_at), _when(post.edited_at), _when(post.deleted_at),
        post.state, post.hidden_reason, thread.id, accepted, mine, reputation, may, can_accept, can_moderate,
        for_asker,
    )
    return key, {"post": post, "thread_id": thread.id, "accepted": accepted, "mine": mine,
                 "reputation": reputation, "may": may, "can_accept": can_accept,
                 "can_moderate": can_moderate, "for_asker": for_asker}


# Forms (only signed-in viewers get any) carry the viewer's own CSRF token, which changes every
# second: it fills the template's slots after the fragment, so fragments are shared by viewers
# alike, and an anonymous viewer (no forms) is given no token and no session.


def post_block(post, view, may, can_accept: bool, can_moderate: bool) -> Markup:
    """One post on a thread page (`forum/_post.html`), with what this viewer may do to it."""
    key, context = _post(post, view, may, can_accept, can_moderate)
    return render_fragment_with_slot("forum/_post.html", key, csrf_token, **context)


def post_blocks(posts, view, actions: dict, no_actions, can_accept: bool, can_moderate: bool) -> Markup:
    """post_block for each of `posts` (a page of answers), drawn in one call; `actions` has what the
    viewer may do to each post by id, `no_actions` for a post it does not hold."""
    return render_fragments_with_slot(
        "forum/_post.html",
        (_post(post, view, actions.get(post.id, no_actions), can_accept, can_moderate) for post in posts),
        csrf_token)
