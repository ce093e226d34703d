"""Moderation forms: field shapes and lengths; the rules live in the services."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from moderation.models import FLAG_KINDS, MESSAGE_MAX, NOTE_MAX, SILENCE, SUSPENSION
from moderation.settings import BLOCKED_WORDS_MAX, LIMITS, PATTERN_MAX

_SLACK = 1000  # the services check lengths with a message that gives the numbers


class FlagForm(FlaskForm):
    # Kept as sent (no choice check): the service refuses an unknown kind with a message.
    kind = RadioField("What is wrong with this post?", coerce=str, validate_choice=False,
                      choices=[SelectChoice(value, label) for value, label in FLAG_KINDS.items()])
    note = TextAreaField("Tell the moderators more (needed for “something else”)",
                         validators=[Length(max=NOTE_MAX + _SLACK)])


class WarnForm(FlaskForm):
    reason = TextAreaField("Warning", validators=[Length(max=MESSAGE_MAX + _SLACK)],
                           description="The member reads exactly this, and must dismiss it.")


class RestrictForm(FlaskForm):
    kind = SelectField("Action", coerce=str, validate_choice=False,
                       choices=[SelectChoice(SILENCE, "Silence (read-only)"),
                                SelectChoice(SUSPENSION, "Suspend")])
    amount = StringField("For", default="7", validators=[Length(max=20)])
    unit = SelectField("Unit", coerce=str, validate_choice=False,
                       choices=[SelectChoice("days", "days"), SelectChoice("hours", "hours")])
    reason = TextAreaField("Reason", validators=[Length(max=NOTE_MAX + _SLACK)],
                           description="The member sees this reason, and until when.")


class SettingsForm(FlaskForm):
    blocked_words = TextAreaField(
        "Blocked words", validators=[Length(max=BLOCKED_WORDS_MAX * (PATTERN_MAX + 1) + _SLACK)],
        description="One per line: a word (matched as a whole word, any case) or a regular expression. "
                    "Posts that use one wait in the review queue as spam suspects.")


for _name, (_label, _low, _high) in LIMITS.items():
    setattr(SettingsForm, _name, StringField(_label, validators=[Length(max=20)]))
