"""Users, roles, sign-up/in/out, password reset, profiles with external identities."""

from flask import Flask, g

from core.extensions import login_manager


def init_app(app: Flask) -> None:
    from accounts import services
    from accounts.cli import accounts_cli
    from accounts.views import bp

    login_manager.login_view = "accounts.sign_in"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load_user(session_token: str):
        return services.user_for_session(session_token)

    @app.after_request
    def _signed_in_pages_are_not_stored(response):
        """A signed-in page carries the unread count and the person's own state: the browser must
        not show a stored copy on Back (an opened notice would show unread), nor keep it."""
        from accounts.models import User

        # The person loaded for this request, read without touching its columns: a commit (marking
        # notices read) has expired them, and reading one would load the person again.
        if (response.mimetype == "text/html" and "Cache-Control" not in response.headers
                and isinstance(g.get("_login_user"), User)):
            response.headers["Cache-Control"] = "no-store"
        return response

    from core import markup

    markup.set_mention_lookup(services.mention_targets)
    app.register_blueprint(bp)
    app.cli.add_command(accounts_cli)
    from accounts.settings_pages import settings_pages

    app.jinja_env.globals["settings_pages"] = settings_pages
