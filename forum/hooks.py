"""Extension points for the packages above the forum (kb and later ones).

The forum imports none of them: they register here in their `init_app`, and the thread page asks.

- `thread_notices`: functions `(thread) -> list[Markup]`, each notice shown under the thread's
  title (e.g. "this answer is now a KB article"). Each function may run one query.
- `reply_tools`: template names included inside the reply form for staff (e.g. the KB link
  picker); they get `thread` and the form's textarea id as `reply_field_id`.
- `thread_tools`: template names included among a thread page's tools for signed-in viewers
  (e.g. advocates sending the thread to staff); they get `thread` and decide whom they show to.
- `category_uses`: functions `(category) -> str | None`, saying why the category cannot be
  deleted yet (e.g. "it holds 3 knowledge-base articles"), or None.
- `flag_endpoint`: the endpoint (taking `post_id`) of the page where a reader flags a post, set by
  moderation; the thread page links to it from each post others wrote.
- `post_checks`: functions `(Draft) -> str | None`, asked before a question or answer is written
  or edited:
  return a reason to hold the post for review (it is saved as held), or raise
  `core.errors.Invalid`/`Forbidden` with a message to refuse it (nothing is saved). Moderation's
  new-member and spam rules plug in here.
- `upload_places`: {place: function `(actor, target)`} raising Forbidden or NotFound unless `actor`
  may attach a file in that place (forum.uploads: "thread", "ask", "post"; kb adds "article").
- `upload_holders`: {holder: function `(viewer, holder_id) -> bool`}, whether `viewer` may see what
  holds a posted file, and so the file (forum.uploads: "post"; kb adds "article").
- `thread_figures`: {name: function `() -> a scalar SQL expression correlated to forum.models.Thread`},
  read in the thread page's one query for its thread (forum.queries.thread_view) into the view's
  `figures`, so that a notice hook can tell that it has nothing to say without a query of its own
  (kb: whether an article was made from the thread). A hook must still work without them: a thread
  drawn after a refused post is a Thread, with no `figures`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

thread_notices: list[Callable[..., list[Markup]]] = []
reply_tools: list[str] = []
thread_tools: list[str] = []
category_uses: list[Callable[..., str | None]] = []
flag_endpoint: list[str] = []  # at most one: a list, so that registering it is an append
thread_figures: dict[str, Callable[[], object]] = {}


@dataclass(frozen=True)
class Draft:
    """A post about to be written: a question (thread_id None, with its title), an answer, or an
    edit of either (post_id set; title set when the question's title changes)."""

    actor: object
    category_id: int
    body: str
    title: str | None = None
    thread_id: int | None = None
    post_id: int | None = None


upload_places: dict[str, Callable[..., None]] = {}
upload_holders: dict[str, Callable[..., bool]] = {}
post_checks: list[Callable[[Draft], str | None]] = []


def check_post(draft: Draft) -> str | None:
    """Every check in turn (any may raise to refuse): the first reason to hold, or None."""
    reasons = [reason for check in post_checks if (reason := check(draft))]
    return reasons[0] if reasons else None


def notices_for(thread) -> list[Markup]:
    return [notice for hook in thread_notices for notice in hook(thread)]
