"""Shared form plumbing: turning a domain error into a message beside the right field."""

from flask import flash
from flask_wtf import FlaskForm

from core.errors import DomainError


def show_error(form: FlaskForm, error: DomainError) -> int:
    """Put the error's message under its field (or in a flash) and return its status code."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")
    return error.status_code


def invalid_status(form: FlaskForm) -> int:
    """400 when a submitted form failed validation, 200 when it was only shown."""
    return 400 if form.is_submitted() else 200

