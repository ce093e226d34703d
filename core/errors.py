"""Domain errors raised by services and turned into status codes by views."""


class DomainError(Exception):
    """Base of the errors a service raises for a user to read."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """The input breaks a rule; the message says which."""

    status_code = 400


class Forbidden(DomainError):
    """The actor may not do this."""

    status_code = 403


class NotFound(DomainError):
    """The object does not exist, or the actor may not know it exists."""

    status_code = 404


class TooLarge(DomainError):
    """The input is longer than anything it could be saved as (a preview of a 60,000-character text)."""

    status_code = 413


class Conflict(DomainError):
    """The input clashes with something already saved (a taken name, say)."""

    status_code = 409
