"""Account forms: field shapes and lengths; the rules themselves live in services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from accounts.models import IDENTITY_KINDS, PUBLIC_IDENTITY_KINDS, ROLES
from accounts.services import (
    BIO_MAX,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    IDENTITY_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    REASON_MAX,
    USERNAME_MAX,
)


class SignUpForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=EMAIL_MAX)])
    username = StringField(
        "Username", validators=[DataRequired("Choose a username."), Length(max=USERNAME_MAX)],
        description="3 to 30 letters, digits, '.', '_' or '-'. Shown on your posts.",
    )
    display_name = StringField(
        "Display name (optional)", validators=[Optional(), Length(max=DISPLAY_NAME_MAX)],
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Choose a password."), Length(max=PASSWORD_MAX)],
        description=f"At least {PASSWORD_MIN} characters; a short sentence works well.",
    )
    confirm = PasswordField(
        "Password again", validators=[EqualTo("password", "The two passwords differ.")]
    )


class SignInForm(FlaskForm):
    login = StringField("Email or username", validators=[DataRequired("Enter your email or username."),
                                                         Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=PASSWORD_MAX)])
    remember = BooleanField("Keep me signed in on this device")


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=EMAIL_MAX)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=[DataRequired("Choose a password."), Length(max=PASSWORD_MAX)],
        description=f"At least {PASSWORD_MIN} characters.",
    )
    confirm = PasswordField(
        "New password again", validators=[EqualTo("password", "The two passwords differ.")]
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password."),
                                        Length(max=PASSWORD_MAX)])
    password = PasswordField(
        "New password", validators=[DataRequired("Choose a password."), Length(max=PASSWORD_MAX)],
        description=f"At least {PASSWORD_MIN} characters. Every other session of your account ends.",
    )
    confirm = PasswordField(
        "New password again", validators=[EqualTo("password", "The two passwords differ.")]
    )


class EmailChangeForm(FlaskForm):
    new_email = EmailField("New email address", validators=[DataRequired("Enter the new email address."),
                                                            Length(max=EMAIL_MAX)],
                           description="We mail a link there; your address changes when you open it.")
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password."),
                                        Length(max=PASSWORD_MAX)])


class ProfileForm(FlaskForm):
    display_name = StringField("Display name", validators=[Length(max=DISPLAY_NAME_MAX)])
    bio = TextAreaField("About you", validators=[Length(max=BIO_MAX)],
                        description="Plain text, shown on your profile.")


# One optional field per public identity kind, named after the kind.
for _kind in sorted(PUBLIC_IDENTITY_KINDS):
    setattr(ProfileForm, _kind, StringField(IDENTITY_KINDS[_kind],
                                            validators=[Length(max=IDENTITY_MAX)]))


class CrmForm(FlaskForm):
    crm = StringField("CRM id", validators=[Length(max=IDENTITY_MAX)],
                      description="Only staff see this. Leave empty to unlink.")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=list(ROLES))
    reason = StringField("Reason (kept in the audit log)", validators=[Length(max=REASON_MAX)])


class SignOutForm(FlaskForm):
    """Sign-out is a POST with a CSRF token, so no link elsewhere can sign anyone out."""
