"""subscription topics: the topic of each outbox message and the topics each lead has left

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', AutoString(length=100), nullable=True))
    op.create_table(
        'topic_optouts',
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('topic', AutoString(length=100), nullable=False),
        sa.Column('created_at', engine.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id']),
        sa.PrimaryKeyConstraint('lead_id', 'topic'),
    )


def downgrade() -> None:
    op.drop_table('topic_optouts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('topic')
