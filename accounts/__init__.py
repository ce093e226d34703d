"""Users, roles, sign-up/in/out, password reset, profiles with external identities."""

from flask import Flask

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

    app.register_blueprint(bp)
    app.cli.add_command(accounts_cli)
    from accounts.settings_pages import settings_pages

    app.jinja_env.globals["settings_pages"] = settings_pages
