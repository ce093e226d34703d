"""Users: the look-alike skeleton of each username, indexed, so sign-up can refuse `аdmin` beside `admin`

Revision ID: 0006_username_skeleton
Revises: 0005_ask_flows
Create Date: 2026-11-27 10:00:00

The column is added empty, filled for the users already saved with the same function the app
uses (core.confusables.name_skeleton: UTS #39 on the NFKC, case-folded name), then made NOT NULL.
The index is not unique: imported authors may share a skeleton, and the sign-up service refuses
look-alikes instead.
"""
from alembic import op
import sqlalchemy as sa

from core.confusables import name_skeleton


revision = '0006_username_skeleton'
down_revision = '0005_ask_flows'
branch_labels = None
depends_on = None

users = sa.table('users', sa.column('id', sa.Integer()), sa.column('username', sa.String()),
                 sa.column('username_skeleton', sa.String()))


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_skeleton', sa.String(length=255), nullable=True))
    connection = op.get_bind()
    filled = [{'row_id': row_id, 'skeleton': name_skeleton(username)}
              for row_id, username in connection.execute(sa.select(users.c.id, users.c.username))]
    if filled:
        connection.execute(
            users.update().where(users.c.id == sa.bindparam('row_id'))
            .values(username_skeleton=sa.bindparam('skeleton')),
            filled)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('username_skeleton', existing_type=sa.String(length=255), nullable=False)
        batch_op.create_index(batch_op.f('ix_users_username_skeleton'), ['username_skeleton'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_skeleton'))
        batch_op.drop_column('username_skeleton')
