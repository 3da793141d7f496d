"""follow-up SLA clocks on stages

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sla_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', AutoString(length=300), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('stage', AutoString(length=100), nullable=False),
    sa.Column('event', AutoString(length=200), nullable=False),
    sa.Column('owner', AutoString(length=320), nullable=True),
    sa.Column('entered_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('deadline', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('status', AutoString(length=20), nullable=False),
    sa.Column('closed_at', engine.store.models.UTCDateTime(), nullable=True),
    sa.Column('outcome', AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_sla_clocks_due', 'sla_clocks', ['status', 'deadline'], unique=False)
    op.create_index('ix_sla_clocks_lead', 'sla_clocks', ['lead_id', 'entered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sla_clocks_lead', table_name='sla_clocks')
    op.drop_index('ix_sla_clocks_due', table_name='sla_clocks')
    op.drop_table('sla_clocks')
