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


class Problems(Invalid):
    """Several inputs break rules at once: `problems` holds one Invalid per problem, in the order of
    the form's fields, so a person sees them all after one submit rather than one per submit."""

    def __init__(self, problems: list[Invalid]):
        self.problems = list(problems)
        super().__init__(" ".join(problem.message for problem in self.problems))


def collect(problems: list[Invalid], check, *args, **kwargs):
    """`check(*args, **kwargs)`; if it raises Invalid, None, with the problem (or each of a
    Problems) appended to `problems`. Other errors (Forbidden, NotFound) pass through."""
    try:
        return check(*args, **kwargs)
    except Problems as error:
        problems.extend(error.problems)
    except Invalid as error:
        problems.append(error)
    return None


def raise_problems(problems: list[Invalid]) -> None:
    """Nothing when `problems` is empty; raises the one Invalid, or Problems for several."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise Problems(problems)
