"""Moderation: members' flags, the staff review queue, trust levels and new-member safeguards, spam
checks, warnings, silences and suspensions, and the audit-log page."""

from flask import Flask, render_template
from markupsafe import Markup

from forum.notices import NoticeKind, register_kind

FLAG_ENDPOINT = "moderation.flag_post"


def _to_own_page(_notice):
    return "moderation.my_moderation", {}


NOTICE_KINDS = (
    NoticeKind("flag_agreed", summary="Moderators acted on a post you flagged in “{title}”. Thank you.",
               label="Moderators agreed with your flag",
               link_to_post=False, link=_to_own_page,
               mail_text="Moderators looked at a post you flagged and agreed: it was removed or hidden.\n\n"
                         "See your flags: {link}"),
    NoticeKind("flag_kept", summary="A post you flagged in “{title}” was reviewed and kept.",
               label="A post you flagged was kept",
               link_to_post=False, link=_to_own_page,
               mail_text="Moderators looked at a post you flagged and decided it may stay.\n\n"
                         "See your flags: {link}"),
    NoticeKind("post_removed", summary="A moderator removed your post in “{title}”.",
               label="A moderator removed your post", required=True,
               link_to_post=False, link=_to_own_page,
               mail_text="A moderator hid or removed one of your posts. What was decided and why: {link}"),
    NoticeKind("post_approved", summary="Your post in “{title}” was approved and everyone can see it now.",
               label="Your post was approved",
               mail_text="A moderator approved your post; everyone can read it now:\n\n{link}"),
    NoticeKind("mod_warning", summary="You have a warning from the moderators.", needs_thread=False,
               label="A warning from the moderators", required=True,
               link_to_post=False, link=_to_own_page,
               mail_text="The moderators sent you a warning. Read it here: {link}"),
    NoticeKind("mod_restricted", summary="Moderators restricted your account.", needs_thread=False,
               label="Your account restricted by moderators", required=True,
               link_to_post=False, link=_to_own_page,
               mail_text="The moderators restricted your account for a while. "
                         "What, why and until when: {link}"),
)


def _profile_section(user, **_extra):
    """On a profile: the trust level for everyone; for the person and staff, what earns basic trust."""
    from flask_login import current_user

    from accounts.permissions import is_staff
    from moderation import queries, settings, trust

    own = getattr(current_user, "id", None) == user.id
    staff = is_staff(current_user)
    html = render_template("moderation/_profile_section.html", user=user, own=own, staff=staff,
                           rules=settings.current() if own or staff else None,
                           posts_read=trust.posts_read(user.id) if own or staff else 0,
                           standing=queries.standing_of({user.id})[user.id] if staff else None)
    return Markup(html)  # noqa: S704 - an autoescaped template, not user text


def init_app(app: Flask) -> None:
    from core import signals
    from forum import hooks, notices
    from moderation import jobs, models, rules, safeguards, services, views  # noqa: F401

    app.register_blueprint(views.bp)
    for kind in NOTICE_KINDS:
        if kind.name not in notices.KINDS:
            register_kind(kind)
    if safeguards.check_post not in hooks.post_checks:
        hooks.post_checks.append(safeguards.check_post)
    if FLAG_ENDPOINT not in hooks.flag_endpoint:
        hooks.flag_endpoint.append(FLAG_ENDPOINT)
    rules.connect()
    signals.profile_sections.connect(_profile_section, weak=False)
    app.jinja_env.globals["pending_warnings"] = services.pending_warnings
    from accounts.standing import restriction_text

    app.jinja_env.globals["restriction_notice"] = restriction_text
    from forum import demo as forum_demo
    from moderation import demo

    if demo.load_with_community not in forum_demo.EXTENSIONS:
        forum_demo.EXTENSIONS.append(demo.load_with_community)
