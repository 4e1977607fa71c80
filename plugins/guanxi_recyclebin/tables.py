"""The recycle bin's own state: which records went in together (a deletion), and why."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# One user action: the record deleted and everything its deletion cascaded to.
deletion = sa.Table(
    "bin_deletion",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),  # the record the user deleted
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("deleted_by", sa.Integer),
    sa.Column("deleted_by_name", sa.String(100)),
    sa.Column("deleted_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("ix_bin_deletion_entity_at", "entity", "deleted_at"),
)

# Every record of a deletion; `position` is the order they were binned in (children first),
# so a restore runs it backwards (parents first).
item = sa.Table(
    "bin_item",
    metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("deletion_id", ID, sa.ForeignKey("bin_deletion.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Index("ix_bin_item_deletion", "deletion_id", "position"),
)

# BIN-04: a deletion waiting for the requester's manager.
request = sa.Table(
    "bin_request",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(200)),
    sa.Column("requested_by", sa.Integer, nullable=False),
    sa.Column("requested_by_name", sa.String(100)),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("approvers", sa.JSON, nullable=False),  # user ids asked when it was filed
    sa.Column("status", sa.String(12), nullable=False),  # pending | approved | rejected
    sa.Column("decided_by", sa.Integer),
    sa.Column("decided_by_name", sa.String(100)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decision_reason", sa.Text),
    sa.Index("ix_bin_request_status", "status", "id"),
    sa.Index("ix_bin_request_record", "entity", "record_id", "status"),
)

TABLES = [deletion, item, request]
