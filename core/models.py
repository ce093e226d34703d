"""Plumbing's own rows: which renderer made the stored HTML (core.markup)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db


class MarkupState(db.Model):
    """One row: the core.markup.RENDERER_VERSION that every stored rendered text was made with."""

    __tablename__ = "markup_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    renderer_version: Mapped[str] = mapped_column(sa.String(32))
    rendered_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
