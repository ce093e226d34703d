"""The renderer version stored rendered Markdown was made with (core.markup: `flask markup rerender`).

Revision ID: 0015_markup_state
Revises: 0014_usability
Create Date: 2026-12-04 18:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_markup_state'
down_revision = '0014_usability'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('markup_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('renderer_version', sa.String(length=32), nullable=False),
    sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_markup_state'))
    )


def downgrade():
    op.drop_table('markup_state')
