"""Forum forms: field shapes and lengths; the rules live in services."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from forum.models import BODY_MAX, REVISION_SUMMARY_MAX, TITLE_MAX, URGENT_REASON_MAX

# Lengths are checked by the services with a message that gives the numbers, so the
# form limits sit a little above them: huge input is still refused here, cheaply.
_SLACK = 1000


class AskForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=TITLE_MAX + _SLACK)],
                        description="Say what is wrong, as you would to a colleague.")
    category_id = SelectField("Category", validate_choice=False, coerce=str)
    body = TextAreaField("Details", validators=[Length(max=BODY_MAX + _SLACK)],
                         description="What you tried, what you expected and what happened. "
                                     "Markdown works: **bold**, `code`, lists, links.")
    tags = StringField("Tags (optional)", validators=[Length(max=200)],
                       description="Up to 5, separated by commas, from the existing tags.")
    urgent = BooleanField("This is urgent (an outage, billing or security problem)")
    urgent_reason = StringField("Why is it urgent?", validators=[Length(max=URGENT_REASON_MAX + _SLACK)])
    flow = HiddenField()  # checked by the service; a bad one is replaced, never an error


class ReplyForm(FlaskForm):
    body = TextAreaField("Your answer", validators=[Length(max=BODY_MAX + _SLACK)],
                         description="Markdown works: **bold**, `code`, lists, links.")


class EditPostForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=TITLE_MAX + _SLACK)])
    body = TextAreaField("Text", validators=[Length(max=BODY_MAX + _SLACK)])
    tags = StringField("Tags", validators=[Optional(), Length(max=200)])
    summary = StringField("What did you change? (optional)",
                          validators=[Length(max=REVISION_SUMMARY_MAX + _SLACK)],
                          description=f"Up to {REVISION_SUMMARY_MAX} characters, shown beside this version "
                                      "in the history, e.g. “fixed the link to the guide”.")


class CategoryForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=200)])
    slug = StringField("Slug (optional)", validators=[Length(max=200)],
                       description="Lowercase letters, digits and dashes; made from the name if empty.")
    description = StringField("Description", validators=[Length(max=1000)])
    position = IntegerField("Order", validators=[Optional()], default=0)
    parent_id = SelectField("Inside", validate_choice=False, coerce=str)


class MergeForm(FlaskForm):
    target = StringField("Merge into", validators=[Length(max=2000)],
                         description="The number of the thread this one repeats (42, as in /t/42), or its "
                                     "address copied from the browser.")
    confirm = HiddenField()  # "yes" once the staff member has seen which thread that is


class SplitForm(FlaskForm):
    # The answers' ids, from checkboxes; the service says which may be split off.
    post_ids = SelectMultipleField("Answers to split off", validate_choice=False, coerce=str)
    title = StringField("Title of the new thread", validators=[Length(max=TITLE_MAX + _SLACK)],
                        description="The oldest answer picked becomes its question, asked by its author.")
    category_id = SelectField("Category", validate_choice=False, coerce=str)


class UploadSettingsForm(FlaskForm):
    """The admins' attachment limits (forum.uploads.LIMITS gives each field's label and bounds)."""


def _limit_fields() -> None:
    from forum.uploads import LIMITS

    for name, (label, low, high) in LIMITS.items():
        setattr(UploadSettingsForm, name, StringField(
            label, validators=[Length(max=20)], description=f"From {low} to {high:,}."))


_limit_fields()
