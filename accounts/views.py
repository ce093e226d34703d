"""Account pages: sign up/in/out, password reset, profiles, and the admin's user list."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from accounts import devices, forms, services
from accounts.models import IDENTITY_KINDS, PUBLIC_IDENTITY_KINDS, ROLES
from accounts.permissions import (
    admin_required,
    can_edit_crm_id,
    can_edit_profile,
    login_required,
    public,
    staff_required,
)
from core import mail, ratelimit, signals
from core.errors import DomainError, Invalid
from core.forms import invalid_status, show_error
from core.paging import requested_page
from core.ratelimit import RateLimited, client_address
from core.security import safe_next

bp = Blueprint("accounts", __name__)


def _home() -> str:
    return url_for("forum.index")


def _login_key(login: str) -> str:
    """The key of the per-account sign-in limit: what was typed, normalised (case, width). Not the
    account itself: failures at a username would then lock its email too, and tell a stranger
    which email belongs to which (public) username."""
    return f"login:{services.login_key(login)}"


def _lift_sign_in_locks(user) -> None:
    """The owner proved who they are: failures by others no longer hold the account back."""
    for login in (user.username, user.email):
        ratelimit.clear("signin-account", _login_key(login))


def _start_session(user, remember=False):
    """Sign `user` in on this browser with a server-side session; returns the device cookie value."""
    # A fresh session at sign-in: nothing (a CSRF token, say) carries over from before.
    session.clear()
    services.start_session(user, remember=remember, user_agent=request.user_agent.string)
    login_user(user, remember=remember)
    return devices.cookie_for(user, devices.device_of(request.cookies.get(devices.COOKIE), user))


def _signed_in(user, target, message: str, remember=False):
    device_cookie = _start_session(user, remember)
    flash(message, "success")  # after the session starts afresh, or it would be cleared with it
    response = redirect(target)
    devices.set_cookie(response, device_cookie)
    return response


@bp.route("/signup", methods=["GET", "POST"])
@public
def sign_up():
    if current_user.is_authenticated:
        return redirect(_home())
    form = forms.SignUpForm()
    if form.validate_on_submit():
        try:
            # Refused input does not count; a taken name or email does, so that nobody can probe
            # which emails have accounts (or load the server with password hashing) without limit.
            with ratelimit.charge("signup", client_address(), give_back_on=Invalid):
                user = services.sign_up(
                    form.email.data, form.username.data, form.password.data, form.display_name.data
                )
        except DomainError as error:
            status = show_error(form, error)
            return render_template("accounts/sign_up.html", form=form), status
        return _signed_in(user, safe_next(request.args.get("next"), _home()),
                          f"Welcome to {current_app.config['PEERLINE_SITE_NAME']}, {user.display_name}!")
    return render_template("accounts/sign_up.html", form=form), invalid_status(form)


@bp.route("/signin", methods=["GET", "POST"])
@public
def sign_in():
    target = safe_next(request.args.get("next"), _home())
    if current_user.is_authenticated:
        return redirect(target)
    form = forms.SignInForm()
    if not form.validate_on_submit():
        return render_template("accounts/sign_in.html", form=form), invalid_status(form)
    login = form.login.data
    account = services.find_by_login(login)
    device = devices.device_of(request.cookies.get(devices.COOKIE), account)
    try:
        # Counted before the password is checked, so simultaneous guesses cannot all get through.
        # A browser that signed in to the account before is counted apart, on its own failures
        # only: strangers failing at the account, or from the same network, cannot lock its owner
        # out, and the per-address and per-account limits hold the strangers back.
        limits = [("signin-device", device)] if device else [
            ("signin-address", client_address()), ("signin-account", _login_key(login))]
        attempts = ratelimit.take_all(*limits)
        user = services.authenticate(login, form.password.data)
    except RateLimited as error:
        show_error(form, error)
        return render_template("accounts/sign_in.html", form=form), 429
    except Invalid as error:
        show_error(form, error)
        return render_template("accounts/sign_in.html", form=form), 401
    for attempt in attempts:  # only failures count
        attempt.give_back()
    if device:
        _lift_sign_in_locks(user)
    return _signed_in(user, target, f"Signed in as {user.display_name}.", remember=form.remember.data)


@bp.route("/signout", methods=["POST"])
@public
def sign_out():
    if forms.SignOutForm().validate_on_submit() and current_user.is_authenticated:
        services.end_session(current_user.session_token)
        session.clear()
        logout_user()  # after clearing: it leaves the note that deletes the remember cookie
        flash("You are signed out.", "info")
    return redirect(_home())


@bp.route("/password/reset", methods=["GET", "POST"])
@public
def request_password_reset():
    form = forms.ResetRequestForm()
    if form.validate_on_submit():
        try:
            # Per address and per mailbox alike, whether or not an account has it (that stays secret);
            # the mailbox as mail would reach it, so that spelling it another way is the same mailbox.
            limits = [("reset-address", client_address())]
            mailbox = services.mailbox_of(form.email.data)
            if mailbox:
                limits.append(("reset-email", mailbox))
            ratelimit.take_all(*limits)
        except RateLimited as error:
            show_error(form, error)
            return render_template("accounts/reset_request.html", form=form), 429
        services.request_password_reset(form.email.data)
        flash("If an account has that email, a reset link is on its way. "
              "It works once, for a limited time.", "info")
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/reset_request.html", form=form), invalid_status(form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token):
    try:
        services.reset_token_for(token)
    except Invalid as error:
        flash(error.message, "error")
        return render_template("accounts/reset_expired.html"), 400
    form = forms.ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(token, form.password.data)
        except DomainError as error:
            status = show_error(form, error)
            return render_template("accounts/reset_password.html", form=form), status
        _lift_sign_in_locks(user)
        session.clear()
        logout_user()
        flash("Your password is changed, and every session of your account has ended. "
              "Sign in with the new password.", "success")
        return redirect(url_for("accounts.sign_in"))
    return render_template("accounts/reset_password.html", form=form), invalid_status(form)


@bp.route("/u/<username>")
@public
def view_profile(username):
    return _render_profile(_user_or_404(username))


def _render_profile(user, crm_form=None, status=200):
    if crm_form is None and can_edit_crm_id(current_user):
        crm_form = forms.CrmForm(crm=next((i.value for i in user.identities if i.kind == "crm"), ""))
    sections = [section for _receiver, section in signals.profile_sections.send(user) if section]
    return render_template(
        "accounts/profile.html",
        user=user,
        sections=sections,
        identities=services.visible_identities(current_user, user),
        can_edit=can_edit_profile(current_user, user),
        crm_form=crm_form,
        audit=services.audit_for(user) if crm_form is not None else [],
    ), status


@bp.route("/settings/profile", methods=["GET", "POST"])
@login_required
def edit_profile():
    user = current_user._get_current_object()
    current = {i.kind: i.value for i in user.identities}
    form = forms.ProfileForm(
        display_name=user.display_name, bio=user.bio,
        **{kind: current.get(kind, "") for kind in PUBLIC_IDENTITY_KINDS},
    )
    if form.validate_on_submit():
        identities = {kind: getattr(form, kind).data for kind in PUBLIC_IDENTITY_KINDS}
        try:
            services.update_profile(user, user, form.display_name.data, form.bio.data, identities)
        except DomainError as error:
            status = show_error(form, error)
            return render_template("accounts/edit_profile.html", form=form,
                                   kinds=_identity_fields(form)), status
        flash("Profile saved.", "success")
        return redirect(url_for("accounts.view_profile", username=user.username))
    return render_template("accounts/edit_profile.html", form=form,
                           kinds=_identity_fields(form)), invalid_status(form)


@bp.route("/settings")
@login_required
def settings():
    """The settings area starts at the profile."""
    return redirect(url_for("accounts.edit_profile"))


def _render_account(email_form=None, password_form=None, status=200):
    email_form = email_form or forms.EmailChangeForm(prefix="email")
    return render_template("accounts/account.html", email_form=email_form,
                           password_form=password_form or forms.ChangePasswordForm()), status


@bp.route("/people/suggest")
@login_required
def suggest_people():
    """JSON for the @mention picker: `{"people": [{"username", "display_name"}]}`."""
    response = jsonify(people=services.suggest_people(request.args.get("q", "")))
    response.cache_control.private = True
    response.cache_control.max_age = 60
    return response


@bp.route("/settings/account")
@login_required
def account_settings():
    """E-mail and password."""
    return _render_account()


@bp.route("/settings/email", methods=["POST"])
@login_required
def change_email():
    form = forms.EmailChangeForm(prefix="email")
    if not form.validate_on_submit():
        return _render_account(email_form=form, status=400)
    user = current_user._get_current_object()
    try:
        # A wrong password here is a failed sign-in, as on the password change.
        attempts = ratelimit.take_all(("signin-address", client_address()),
                                      ("signin-account", _login_key(user.username)))
        new_email = services.request_email_change(user, form.current_password.data, form.new_email.data)
    except DomainError as error:
        if error.field != "current_password" and not isinstance(error, RateLimited):
            for attempt in attempts:
                attempt.give_back()
        return _render_account(email_form=form, status=show_error(form, error))
    for attempt in attempts:
        attempt.give_back()
    flash(f"We mailed a link to {new_email}. Open it to confirm the change; until then your account "
          "keeps its current address.", "info")
    return redirect(url_for("accounts.account_settings"))


@bp.route("/settings/email/confirm/<token>", methods=["GET", "POST"])
@public
def confirm_email_change(token):
    """The link mailed to the new address (the link is the credential). Opening it shows what it
    would change, and its button makes the change: a mail scanner that fetches links changes
    nothing."""
    try:
        if request.method == "GET":
            user, new_email = services.email_change_link(token)
            return render_template("accounts/email_change_confirm.html", user=user, new_email=new_email)
        user = services.confirm_email_change(token)
    except DomainError as error:
        return render_template("accounts/email_change_failed.html", message=error.message), error.status_code
    flash(f"Your email address is now {user.email}.", "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("accounts.account_settings"))
    return redirect(url_for("accounts.sign_in"))


@bp.route("/settings/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = forms.ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            # A wrong current password is a failed sign-in: someone with a stolen session must not
            # get to guess it without limit.
            attempts = ratelimit.take_all(("signin-address", client_address()),
                                          ("signin-account", _login_key(user.username)))
            services.change_password(user, form.current_password.data, form.password.data)
        except DomainError as error:
            if error.field != "current_password" and not isinstance(error, RateLimited):
                for attempt in attempts:
                    attempt.give_back()
            status = show_error(form, error)
            return render_template("accounts/change_password.html", form=form), status
        for attempt in attempts:
            attempt.give_back()
        flash("Your password is changed. You are signed out everywhere else.", "success")
        response = redirect(url_for("accounts.account_settings"))
        # Browsers known before the change no longer are; this one, where the owner just proved
        # the password, stays known.
        devices.set_cookie(response, devices.cookie_for(user))
        return response
    return render_template("accounts/change_password.html", form=form), invalid_status(form)


def _identity_fields(form):
    return [getattr(form, kind) for kind in IDENTITY_KINDS if kind in PUBLIC_IDENTITY_KINDS]


@bp.route("/u/<username>/crm", methods=["POST"])
@staff_required
def set_crm_id(username):
    user = _user_or_404(username)
    form = forms.CrmForm()
    if form.validate_on_submit():
        try:
            services.set_crm_id(current_user, user, form.crm.data)
        except DomainError as error:
            return _render_profile(user, form, show_error(form, error))
        flash("CRM id saved.", "success")
        return redirect(url_for("accounts.view_profile", username=user.username))
    return _render_profile(user, form, 400)


def _render_users(status=200, role_form=None):
    role = request.args.get("role")
    users = services.list_users(request.args.get("q", ""), role, page=requested_page())
    return render_template("accounts/users.html", users=users, roles=ROLES, role=role,
                           q=request.args.get("q", ""), role_form=role_form or forms.RoleForm()), status


@bp.route("/admin/users")
@admin_required
def list_users():
    return _render_users()


@bp.route("/admin/users/<int:user_id>/role", methods=["POST"])
@admin_required
def change_role(user_id):
    try:
        user = services.get_user(user_id)
    except DomainError:
        abort(404)
    form = forms.RoleForm()
    if not form.validate_on_submit():
        flash("Choose one of the roles, with a reason of at most 500 characters.", "error")
        return _render_users(400, form)
    try:
        services.change_role(current_user, user, form.role.data, form.reason.data)
    except DomainError as error:
        flash(error.message, "error")
        return _render_users(error.status_code, form)
    flash(f"{user.display_name} is now {user.role_label.lower()}.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("accounts.list_users")))


@bp.route("/staff/mail")
@staff_required
def list_mail():
    sent_by_smtp = bool(current_app.config.get("MAIL_SERVER"))
    return render_template("accounts/mail.html", mails=[] if sent_by_smtp else mail.outbox(),
                           sent_by_smtp=sent_by_smtp)


def _user_or_404(username):
    try:
        return services.get_user_by_username(username)
    except DomainError:
        abort(404)
