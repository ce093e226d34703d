"""Attachments: uploaded files and the admins' limits for them (forum.uploads).

Revision ID: 0016_uploads
Revises: 0015_markup_state
Create Date: 2026-12-04 20:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_uploads'
down_revision = '0015_markup_state'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=False),
    sa.Column('content_type', sa.String(length=60), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('has_thumbnail', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('holder', sa.String(length=10), nullable=True),
    sa.Column('holder_id', sa.Integer(), nullable=True),
    sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('image', 'text')", name=op.f('ck_uploads_kind_known')),
    sa.CheckConstraint('(holder IS NULL) = (holder_id IS NULL)', name=op.f('ck_uploads_holder_whole')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_uploads_owner_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    sa.UniqueConstraint('key', name=op.f('uq_uploads_key'))
    )
    op.create_index(op.f('ix_uploads_owner_id'), 'uploads', ['owner_id'], unique=False)
    op.create_index('ix_uploads_holder', 'uploads', ['holder', 'holder_id'], unique=False)
    op.create_index('ix_uploads_unposted', 'uploads', ['holder', 'created_at'], unique=False)
    op.create_table('upload_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_settings'))
    )


def downgrade():
    op.drop_table('upload_settings')
    op.drop_index('ix_uploads_unposted', table_name='uploads')
    op.drop_index('ix_uploads_holder', table_name='uploads')
    op.drop_index(op.f('ix_uploads_owner_id'), table_name='uploads')
    op.drop_table('uploads')
