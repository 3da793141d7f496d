"""accounts: values rolled up from each company's contacts, and which account each lead belongs to

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import engine.store.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('key', AutoString(length=253), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('alerts', sa.JSON(), nullable=False),
    sa.Column('computed_at', engine.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_computed_at'), ['computed_at'], unique=False)
    op.create_table('account_members',
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('account_key', AutoString(length=253), nullable=False),
    sa.PrimaryKeyConstraint('lead_id')
    )
    with op.batch_alter_table('account_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_members_account_key'), ['account_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('account_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_members_account_key'))
    op.drop_table('account_members')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_computed_at'))
    op.drop_table('accounts')
