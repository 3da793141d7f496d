"""split steps: which arm each lead went down, and the winner picked for each split

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('experiment_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('split', AutoString(length=100), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('arm', AutoString(length=100), nullable=False),
    sa.Column('journey', AutoString(length=100), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('split', 'lead_id')
    )
    with op.batch_alter_table('experiment_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_assignments_split_at', ['split', 'assigned_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiment_assignments_lead_id'), ['lead_id'], unique=False)
    op.create_table('experiment_decisions',
    sa.Column('split', AutoString(length=100), nullable=False),
    sa.Column('winner', AutoString(length=100), nullable=False),
    sa.Column('decided_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.Column('reason', AutoString(length=2000), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('decided_by', AutoString(length=100), nullable=False),
    sa.PrimaryKeyConstraint('split')
    )


def downgrade() -> None:
    op.drop_table('experiment_decisions')
    with op.batch_alter_table('experiment_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_assignments_lead_id'))
        batch_op.drop_index('ix_experiment_assignments_split_at')
    op.drop_table('experiment_assignments')
