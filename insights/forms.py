"""Insights forms: field shapes only; the rules (a score from 1 to 5, the comment's length) live in
the satisfaction service, which says what is wrong in words."""

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from insights.models import COMMENT_MAX
from insights.satisfaction import SCORES

_SLACK = 1000  # the service checks the length with a message that gives the numbers


class RatingForm(FlaskForm):
    # Kept as sent (no coercion, no choice check): the service refuses 0, 6 or "x" with a message.
    score = RadioField("Did this solve your problem?", coerce=str, validate_choice=False,
                       choices=[SelectChoice(str(n), text) for n, text in SCORES.items()])
    comment = TextAreaField("Anything you would like to add? (optional)",
                            validators=[Length(max=COMMENT_MAX + _SLACK)],
                            description="Only our staff read it. It is not posted on the thread.")
