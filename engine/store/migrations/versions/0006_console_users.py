"""console users, and who applied each campaign version

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', AutoString(length=320), nullable=False),
    sa.Column('role', AutoString(length=20), nullable=False),
    sa.Column('password_hash', AutoString(length=300), nullable=False),
    sa.Column('created_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    with op.batch_alter_table('campaign_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author', AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaign_versions', schema=None) as batch_op:
        batch_op.drop_column('author')
    op.drop_table('console_users')
