"""`path_for`: url_for's path, built from a template cached per endpoint.

A list page links every thread, author, category and tag: some 150 url_for calls, a few
milliseconds of a page. For the plain rules of this app (int and string parts), the built path
only ever differs in the values, so the first call builds the path with stand-in numbers, keeps
the pieces around them, and later calls join the pieces with the values quoted as werkzeug's
converters quote them. Anything else (query-string values, `_anchor`, converters that reject a
number, such as `any(latest, unanswered)`) is handed to url_for, and its answer kept for the same
values of ints and strings (a bounded number of them); `_external` and `_scheme` URLs are
never kept, since they depend on the host.
"""

from urllib.parse import quote

from flask import url_for
from flask.globals import _cv_request
from werkzeug.routing import BuildError

_STAND_IN = 7_391_846_250  # + position: a number no real id or name collides with in a path
_UNKNOWN = object()
_SAFE = "!$&'()*+,/:;=@"  # werkzeug's BaseConverter.to_url


def _template(endpoint: str, names: tuple[str, ...]):
    """(pieces, order of names, names that take only numbers) for a path, or None when url_for must
    build it every time."""
    stand_ins = {name: str(_STAND_IN + i) for i, name in enumerate(names)}
    try:
        built = url_for(endpoint, **{name: int(value) for name, value in stand_ins.items()})
    except (BuildError, ValueError, TypeError):
        return None
    path, _, query = built.partition("?")
    if query or any(path.count(value) != 1 for value in stand_ins.values()):
        return None
    positions = sorted((path.index(value), name) for name, value in stand_ins.items())
    pieces, order, start = [], [], 0
    for at, name in positions:
        pieces.append(path[start:at])
        order.append(name)
        start = at + len(stand_ins[name])
    pieces.append(path[start:])
    # Parts that only take numbers (<int:...>): a string there must go through url_for, which
    # converts or refuses it.
    int_only = set()
    for name in names:
        try:
            url_for(endpoint, **{other: int(value) for other, value in stand_ins.items() if other != name},
                    **{name: "x"})
        except (BuildError, ValueError, TypeError):
            int_only.add(name)
    return pieces, order, frozenset(int_only)


def path_for(endpoint: str, **values) -> str:
    """The same path as url_for(endpoint, **values), faster for repeated calls."""
    ctx = _cv_request.get(None)
    if ctx is None:
        return url_for(endpoint, **values)
    if None in values.values():  # werkzeug leaves None values out of the URL altogether
        values = {name: value for name, value in values.items() if value is not None}
    # Keyword order is fixed at each call site, so it can stand in for the sorted names.
    key = (ctx.request.script_root, endpoint, *values)
    cache = ctx.app.extensions.setdefault("peerline_paths", {})
    template = cache.get(key, _UNKNOWN)
    if template is _UNKNOWN:
        template = None
        if not any(name.startswith("_") for name in values):
            template = _template(endpoint, tuple(values))
        cache[key] = template
    if template is None:
        return _built(ctx, endpoint, values)
    pieces, order, int_only = template
    out = [pieces[0]]
    for name, piece in zip(order, pieces[1:], strict=True):
        value = values[name]
        kind = type(value)
        if kind is int:
            out.append(str(value))
        elif kind is str and name not in int_only:
            out.append(quote(value, safe=_SAFE))
        else:
            return url_for(endpoint, **values)
        out.append(piece)
    return "".join(out)


_BUILT_MAX = 5000
_KEEPABLE = (int, str)


def _built(ctx, endpoint: str, values: dict) -> str:
    """url_for(endpoint, **values), kept per exact values when they are plain ints and strings."""
    if "_external" in values or "_scheme" in values or any(type(v) not in _KEEPABLE for v in values.values()):
        return url_for(endpoint, **values)
    key = (ctx.request.script_root, endpoint, *values.items())
    built = ctx.app.extensions.setdefault("peerline_built_paths", {})
    path = built.get(key)
    if path is None:
        path = url_for(endpoint, **values)
        if len(built) >= _BUILT_MAX:
            built.clear()
        built[key] = path
    return path
