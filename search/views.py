"""The search page and its JSON twin: thin views over `search.search()` and `search.suggest()`."""

from flask import Blueprint, jsonify, render_template, request

from accounts.permissions import public
from core.paging import requested_page
from search import Filters, search, suggest

bp = Blueprint("search", __name__)


@bp.route("/search")
@public
def search_page():
    results = search(request.args.get("q", ""), Filters.from_args(request.args), requested_page())
    return render_template("search/results.html", results=results, q=request.args.get("q", ""))


@bp.route("/search.json")
@public
def search_json():
    results = search(request.args.get("q", ""), Filters.from_args(request.args), requested_page())
    return jsonify(
        query=results.query, total=results.total, page=results.page, pages=results.pages,
        suggestion=results.suggestion, message=results.message, unavailable=results.unavailable,
        results=[{"title": h.title, "url": h.url, "kind": h.kind, "solved": h.solved,
                  "snippet": str(h.snippet)} for h in results.hits],
    )


@bp.route("/search/suggest.json")
@public
def suggest_json():
    return jsonify(results=suggest(request.args.get("q", "")))
