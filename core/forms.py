"""Shared form plumbing: turning a domain error into a message beside the right field."""

from flask import flash
from flask_wtf import FlaskForm

from core.errors import DomainError, Problems


def show_error(form: FlaskForm, error: DomainError, *, beside_form_errors: bool = True) -> int:
    """Put the error's message under its field (or in a flash) and return its status code. A
    Problems puts each of its messages under its own field. With `beside_form_errors` False, a
    message for a field the form's own validation refused already is left out: one field, one
    problem to fix at a time."""
    for problem in error.problems if isinstance(error, Problems) else [error]:
        field = getattr(form, problem.field, None) if problem.field else None
        if field is not None and hasattr(field, "errors"):
            if beside_form_errors or not field.errors:
                field.errors = [*field.errors, problem.message]
        else:
            flash(problem.message, "error")
    return error.status_code


def invalid_status(form: FlaskForm) -> int:
    """400 when a submitted form failed validation, 200 when it was only shown."""
    return 400 if form.is_submitted() else 200
