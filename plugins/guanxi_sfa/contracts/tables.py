"""The approval requests of contracts and quotes: one row per submission, closed by the
decision; a record's rows are its approval history."""

from __future__ import annotations

import sqlalchemy as sa

from guanxi_sfa.tables import metadata

approval = sa.Table(
    "sfa_approval",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False, default=""),
    sa.Column("submitted_by", sa.Integer, nullable=True),
    sa.Column("submitted_by_name", sa.String(100), nullable=False, default=""),
    sa.Column("submitted_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.String(1000), nullable=True),
    sa.Column("approvers", sa.JSON, nullable=False, default=list),  # user ids asked
    sa.Column("status", sa.String(20), nullable=False),  # pending | approved | rejected
    sa.Column("decided_by", sa.Integer, nullable=True),
    sa.Column("decided_by_name", sa.String(100), nullable=True),
    sa.Column("decided_at", sa.DateTime, nullable=True),
    sa.Column("comment", sa.String(1000), nullable=True),
    sa.Index("ix_sfa_approval_record", "entity", "record_id", "id"),
    sa.Index("ix_sfa_approval_status", "status", "id"),
)

TABLES = [approval]
