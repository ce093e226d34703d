"""Forum pages. For now the home page; threads and lists arrive with the forum issue."""

from flask import Blueprint, render_template

from accounts.permissions import public

bp = Blueprint("forum", __name__)


@bp.route("/")
@public
def index():
    return render_template("forum/index.html")
