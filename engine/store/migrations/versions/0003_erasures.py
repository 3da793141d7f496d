"""erasures: the salted hash of every address erased on request, with its audit record

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('address_hash', AutoString(length=64), nullable=False),
    sa.Column('erased_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('erased_by', AutoString(length=200), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('address_hash')
    )


def downgrade() -> None:
    op.drop_table('erasures')
