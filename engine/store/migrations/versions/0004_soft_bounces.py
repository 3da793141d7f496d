"""soft bounces reported by relays

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('soft_bounces',
    sa.Column('key', AutoString(length=300), nullable=False),
    sa.Column('email', AutoString(length=320), nullable=False),
    sa.Column('reason', AutoString(length=2000), nullable=False),
    sa.Column('at', engine.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('soft_bounces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_soft_bounces_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('soft_bounces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_soft_bounces_email'))
    op.drop_table('soft_bounces')
