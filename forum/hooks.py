"""Extension points for the packages above the forum (kb and later ones).

The forum imports none of them: they register here in their `init_app`, and the thread page asks.

- `thread_notices`: functions `(thread) -> list[Markup]`, each notice shown under the thread's
  title (e.g. "this answer is now a KB article"). Each function may run one query.
- `reply_tools`: template names included inside the reply form for staff (e.g. the KB link
  picker); they get `thread` and the form's textarea id as `reply_field_id`.
- `category_uses`: functions `(category) -> str | None`, saying why the category cannot be
  deleted yet (e.g. "it holds 3 knowledge-base articles"), or None.
"""

from collections.abc import Callable

from markupsafe import Markup

thread_notices: list[Callable[..., list[Markup]]] = []
reply_tools: list[str] = []
category_uses: list[Callable[..., str | None]] = []


def notices_for(thread) -> list[Markup]:
    return [notice for hook in thread_notices for notice in hook(thread)]
