"""Pool history per customer (every return, move, claim and assignment, with who and why:
the record's own history keeps the field changes, this keeps the pool story and answers
"may this person claim it back yet" and "how many did they claim today") and the advance
warnings already sent."""

from __future__ import annotations

import sqlalchemy as sa

from guanxi_sfa.tables import metadata

RECYCLED, RELEASED, CLAIMED, ASSIGNED = "recycled", "released", "claimed", "assigned"

pool_history = sa.Table(
    "sfa_pool_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("pool", sa.String(50), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    # recycled/released: the owner who lost it; claimed/assigned: the new owner
    sa.Column("owner_id", sa.BigInteger, nullable=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),  # None: the nightly job
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_sfa_pool_history_customer", "customer_id", "id"),
    sa.Index("ix_sfa_pool_history_owner", "owner_id", "action", "at"),
    sa.Index("ix_sfa_pool_history_actor", "actor_id", "action", "at"),
)

pool_warning = sa.Table(
    "sfa_pool_warning",
    metadata,
    sa.Column("customer_id", sa.BigInteger, primary_key=True),
    sa.Column("owner_id", sa.BigInteger, nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False),  # when it would return, as warned
    sa.Column("warned_at", sa.DateTime, nullable=False),
)

# The warning horizon of the last run: the next run warns only customers that became due
# between the two horizons (a day's worth), not everyone inside the window again.
pool_state = sa.Table(
    "sfa_pool_state",
    metadata,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

TABLES = [pool_history, pool_warning, pool_state]
