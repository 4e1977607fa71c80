"""The plugin's own state: assignment rules (ordered, with the round-robin cursor), the first
touch owed for each assignment (task, deadline, when it was flagged) and stale-stage alerts
already sent."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

assign_rule = sa.Table(
    "sfa_assign_rule",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    # each a JSON list of option codes; empty = any value
    sa.Column("sources", sa.JSON, nullable=False, default=list),
    sa.Column("industries", sa.JSON, nullable=False, default=list),
    sa.Column("regions", sa.JSON, nullable=False, default=list),
    sa.Column("product_lines", sa.JSON, nullable=False, default=list),
    sa.Column("method", sa.String(20), nullable=False, default="round_robin"),
    sa.Column("user_ids", sa.JSON, nullable=False, default=list),
    sa.Column("last_user_id", sa.Integer, nullable=True),  # round robin: who got the last one
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

first_touch = sa.Table(
    "sfa_first_touch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("lead_id", sa.Integer, nullable=False, index=True),
    sa.Column("owner_id", sa.Integer, nullable=False, index=True),
    sa.Column("assigned_at", sa.DateTime, nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False, index=True),
    sa.Column("task_id", sa.Integer, nullable=True),
    sa.Column("touched_at", sa.DateTime, nullable=True),
    sa.Column("flagged_at", sa.DateTime, nullable=True),
)

stale_alert = sa.Table(
    "sfa_stale_alert",
    metadata,
    sa.Column("opportunity_id", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(50), primary_key=True),
    sa.Column("since", sa.DateTime, primary_key=True),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)

TABLES = [assign_rule, first_touch, stale_alert]

seeded = sa.Table(
    "sfa_seeded",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

TABLES.append(seeded)
