"""The search page and its JSON twin: thin views over `search.search()` and `search.suggest()`."""

from dataclasses import asdict

from flask import Blueprint, jsonify, render_template, request

from accounts.permissions import public
from core.paging import requested_page
from search import Filters, HitFacts, facts, search, suggest

bp = Blueprint("search", __name__)


@bp.route("/search")
@public
def search_page():
    results = search(request.args.get("q", ""), Filters.from_args(request.args), requested_page())
    return render_template("search/results.html", results=results, q=request.args.get("q", ""),
                           facts=facts(results.hits))


@bp.route("/search.json")
@public
def search_json():
    results = search(request.args.get("q", ""), Filters.from_args(request.args), requested_page())
    found = facts(results.hits)
    return jsonify(
        query=results.query, total=results.total, page=results.page, pages=results.pages,
        suggestion=results.suggestion, message=results.message, unavailable=results.unavailable,
        results=[{"title": h.title, "url": h.url, "kind": h.kind, "solved": h.solved,
                  "snippet": str(h.snippet), "facts": _facts_json(found.get(h.doc_id))}
                 for h in results.hits],
    )


def _facts_json(found: HitFacts | None) -> dict | None:
    if found is None:
        return None
    return {name: (value.isoformat() if hasattr(value, "isoformat") else value)
            for name, value in asdict(found).items() if value is not None}


@bp.route("/search/suggest.json")
@public
def suggest_json():
    return jsonify(results=suggest(request.args.get("q", "")))
