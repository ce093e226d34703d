"""Attachments over HTTP: the editor's upload (static/js/attach.js), serving files to those who may
see them, and the admins' limits. The rules are in forum.uploads."""

from urllib.parse import quote

from flask import flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from accounts.permissions import admin_required, login_required, public
from core import ratelimit
from core.errors import DomainError, NotFound
from core.forms import invalid_status, show_error
from core.ids import possible_id
from forum import forms, uploads
from forum.views import bp

# Long enough for the largest file an admin may allow, plus the form around it.
_REQUEST_MAX = uploads.LIMITS["image_kb"][2] * 1024 + 256 * 1024
# A file is never a page: no scripts, no styles from elsewhere, no frames, whatever is in it.
_FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def allow_large_upload() -> None:
    """The upload route takes a body up to the largest file an admin may allow; others keep the
    site's MAX_CONTENT_LENGTH. Runs before every other hook (forum.init_app puts it first), as the
    anti-forgery check reads the form, and with it the body, before any view."""
    if request.endpoint == "forum.upload_file":
        request.max_content_length = _REQUEST_MAX


@bp.route("/uploads", methods=["POST"])
@login_required
def upload_file():
    """One file from a post or article box: JSON `{"markdown", "url", "name", "kind"}` with 201, or
    `{"error"}` with 400, 403, 404, 413 or 429. Form fields: `file`, `place`, `target`."""
    try:
        sent = request.files.get("file")
        place, target = request.form.get("place"), request.form.get("target", "")
        have = possible_id(request.form.get("have")) or 0
    except RequestEntityTooLarge:
        return jsonify(error="This file is far too large to attach."), 413
    if sent is None or not sent.filename:
        return jsonify(error="Choose a file to attach."), 400
    try:
        uploads.check_can_upload(current_user, place, target)  # before reading the bytes
        with ratelimit.charge("upload", current_user.id):
            row = uploads.upload(current_user, place, target, sent.filename, sent.read(), have=have)
    except DomainError as error:
        return jsonify(error=error.message), error.status_code
    url = url_for("forum.serve_upload", key=row.key)
    return jsonify(markdown=uploads.markdown_for(row), url=url, name=row.filename, kind=row.kind), 201


@bp.route("/uploads/<key>")
@bp.route("/uploads/<key>/thumb", endpoint="serve_thumbnail", defaults={"thumbnail": True})
@public
def serve_upload(key, thumbnail=False):
    """A file, to whoever may see the post or article it is in (its author alone before that)."""
    try:
        row = uploads.get_for(current_user, key)
        data, content_type = uploads.read(row, thumbnail=thumbnail)
    except NotFound:
        return "There is no such file. The post it was in may have been hidden or deleted.", 404, {
            "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store"}
    response = make_response(data)
    response.headers.update({
        "Content-Type": content_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _FILE_POLICY,
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(row.filename)}",
        # A key's bytes never change. Private: a post hidden later must not stay in a shared cache.
        "Cache-Control": "private, max-age=31536000, immutable",
        "Cross-Origin-Resource-Policy": "same-origin",
    })
    return response


@bp.route("/admin/attachments", methods=["GET", "POST"])
@admin_required
def attachment_settings():
    current = uploads.current()
    form = forms.UploadSettingsForm(data=None if request.method == "POST" else {
        name: getattr(current, name) for name in uploads.LIMITS})
    if form.validate_on_submit():
        try:
            uploads.update_settings(current_user, {name: getattr(form, name).data for name in uploads.LIMITS})
        except DomainError as error:
            status = show_error(form, error)
            return render_template("forum/attachment_settings.html", form=form, limits=uploads.LIMITS), status
        flash("Attachment limits saved.", "success")
        return redirect(url_for("forum.attachment_settings"))
    return (render_template("forum/attachment_settings.html", form=form, limits=uploads.LIMITS),
            invalid_status(form))
