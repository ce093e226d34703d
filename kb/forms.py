"""KB forms: field shapes and lengths; the rules live in services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from kb.models import BODY_MAX, COMMENT_MAX, SLUG_MAX, TITLE_MAX

# The services check lengths with a message that gives the numbers; these limits sit a little
# above theirs so that huge input is still refused here, cheaply.
_SLACK = 1000


class ArticleForm(FlaskForm):
    """Fields in the order kb/edit.html shows them: the error summary lists problems in this order."""

    title = StringField("Title", validators=[Length(max=TITLE_MAX + _SLACK)],
                        description="What the reader wants to do or fix, e.g. “Reconnect a bank feed”.")
    category_id = SelectField("Category", validate_choice=False, coerce=str)
    body = TextAreaField("Article", validators=[Length(max=BODY_MAX + _SLACK)],
                         description="Markdown: ## headings, **bold**, `code`, numbered steps, links.")
    tags = StringField("Tags (optional)", validators=[Length(max=200)],
                       description="Up to 5, separated by commas, from the forum's tags.")
    slug = StringField("Address (optional)", validators=[Length(max=SLUG_MAX + _SLACK)],
                       description="The end of the article's address, /kb/…: lowercase letters, digits "
                                   "and dashes. Made from the title when empty.")


class NewArticleForm(ArticleForm):
    publish = BooleanField("Publish it now (otherwise it is saved as a draft)")


class FeedbackForm(FlaskForm):
    helpful = StringField("Was this article helpful?", validators=[Length(max=10)])
    comment = TextAreaField("What was missing or wrong? (optional)",
                            validators=[Length(max=COMMENT_MAX + _SLACK)],
                            description="Only staff read this; they use it to improve the article.")
