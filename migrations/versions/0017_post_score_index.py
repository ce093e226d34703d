"""An index that answers a thread's best answer score from the index alone (the lists' votes).

Revision ID: 0017_post_score_index
Revises: 0016_uploads
Create Date: 2026-12-05 08:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017_post_score_index'
down_revision = '0016_uploads'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_posts_thread_id_kind_state_score', 'posts', ['thread_id', 'kind', 'state', 'score'])


def downgrade():
    op.drop_index('ix_posts_thread_id_kind_state_score', table_name='posts')
