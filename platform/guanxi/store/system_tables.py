"""Tables the platform itself owns: metadata overlay, tags, numbering, history, identity."""

from __future__ import annotations

import sqlalchemy as sa

system_metadata = sa.MetaData()

# The overlay: admin changes stored as rows applied over the shipped schema files.
meta_version = sa.Table(
    "gx_meta_version",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
meta_entity = sa.Table(
    "gx_meta_entity",
    system_metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
meta_field = sa.Table(
    "gx_meta_field",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("key", sa.String(40), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("entity", "key", name="uq_gx_meta_field"),
)
meta_pipeline = sa.Table(
    "gx_meta_pipeline",
    system_metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("field", sa.String(40), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
meta_layout = sa.Table(
    "gx_meta_layout",
    system_metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

tag_group = sa.Table(
    "gx_tag_group",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("label", sa.JSON, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="attribute"),
    sa.Column("exclusive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("entity", "code", name="uq_gx_tag_group"),
)
tag = sa.Table(
    "gx_tag",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("gx_tag_group.id"), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("label", sa.JSON, nullable=False),
    sa.Column("color", sa.String(20)),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("entity", "code", name="uq_gx_tag"),
)
tag_link = sa.Table(
    "gx_tag_link",
    system_metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("tag_id", sa.Integer, sa.ForeignKey("gx_tag.id"), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Index("ix_gx_tag_link_record", "entity", "record_id"),
)

sequence = sa.Table(
    "gx_sequence",
    system_metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

history = sa.Table(
    "gx_history",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("op", sa.String(20), nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("actor_name", sa.String(100)),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("field_reasons", sa.JSON),
    sa.Index("ix_gx_history_record", "entity", "record_id", "id"),
    sa.Index("ix_gx_history_at", "at"),
)
stage_history = sa.Table(
    "gx_stage_history",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("from_stage", sa.String(64)),
    sa.Column("to_stage", sa.String(64), nullable=False),
    sa.Column("entered_at", sa.DateTime, nullable=False),
    sa.Column("left_at", sa.DateTime),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("reason", sa.Text),
    sa.Index("ix_gx_stage_history_record", "entity", "record_id", "field", "id"),
)

# Identity: the minimum records need now (owner, department); auth extends these tables.
department = sa.Table(
    "gx_department",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("gx_department.id")),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
user = sa.Table(
    "gx_user",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("department_id", sa.Integer, sa.ForeignKey("gx_department.id")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
