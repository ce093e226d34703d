"""Escalation forms: field shapes and lengths; the rules live in the services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from escalation.models import NAME_MAX, NOTE_MAX
from forum.models import BODY_MAX

_SLACK = 1000  # the services check lengths with a message that gives the numbers


class ReplyForm(FlaskForm):
    body = TextAreaField("Public reply", validators=[Length(max=BODY_MAX + _SLACK)],
                         description="Posted on the thread for everyone. Markdown works.")
    canned_id = HiddenField()


class NoteForm(FlaskForm):
    body = TextAreaField("Internal note", validators=[Length(max=NOTE_MAX + _SLACK)],
                         description="Only staff see notes: never posted, mailed or searchable.")


class CannedReplyForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=NAME_MAX + _SLACK)])
    body = TextAreaField("Text", validators=[Length(max=5000 + _SLACK)])
    is_acknowledgement = BooleanField("Offer it as an acknowledgement (“we are looking into this”)")
