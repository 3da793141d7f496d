"""publishable keys and anonymous visitors for tracking from websites

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('publishable_keys',
    sa.Column('key', AutoString(length=100), nullable=False),
    sa.Column('origins', sa.JSON(), nullable=False),
    sa.Column('created_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', engine.store.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('anonymous_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', AutoString(length=200), nullable=False),
    sa.Column('anonymous_id', AutoString(length=100), nullable=False),
    sa.Column('type', AutoString(length=200), nullable=False),
    sa.Column('at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('props', sa.JSON(), nullable=False),
    sa.Column('received_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('anonymous_events', schema=None) as batch_op:
        batch_op.create_index('ix_anonymous_events_visitor_at', ['anonymous_id', 'at'], unique=False)
    op.create_table('anonymous_visitors',
    sa.Column('anonymous_id', AutoString(length=100), nullable=False),
    sa.Column('email', AutoString(length=320), nullable=False),
    sa.Column('identified_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('anonymous_id')
    )
    with op.batch_alter_table('anonymous_visitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anonymous_visitors_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('anonymous_visitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anonymous_visitors_email'))
    op.drop_table('anonymous_visitors')
    with op.batch_alter_table('anonymous_events', schema=None) as batch_op:
        batch_op.drop_index('ix_anonymous_events_visitor_at')
    op.drop_table('anonymous_events')
    op.drop_table('publishable_keys')
