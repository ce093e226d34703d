"""Insights pages: the staff dashboard with its exports, the advocate leaderboard, and the askers'
satisfaction question."""

from flask import Blueprint

bp = Blueprint("insights", __name__)
