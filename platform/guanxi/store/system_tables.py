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
    sa.Column("ip", sa.String(45)),
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

# Identity (PERM-01): departments form a tree; teams and positions; roles are Casbin subjects.
department = sa.Table(
    "gx_department",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("gx_department.id")),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
position = sa.Table(
    "gx_position",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
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
    sa.Column("position_id", sa.Integer, sa.ForeignKey("gx_position.id")),
    sa.Column("locale", sa.String(10), nullable=False, server_default="zh-CN"),
    # Attributes condition scopes refer to as $user.<name>, e.g. {"region": "east"}.
    sa.Column("attributes", sa.JSON),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("password_changed_at", sa.DateTime),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime),
    sa.Column("last_login_at", sa.DateTime),
)
role = sa.Table(
    "gx_role",
    system_metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("label", sa.JSON, nullable=False),
    sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
team = sa.Table(
    "gx_team",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
team_member = sa.Table(
    "gx_team_member",
    system_metadata,
    sa.Column("team_id", sa.Integer, sa.ForeignKey("gx_team.id"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), primary_key=True),
    sa.Index("ix_gx_team_member_user", "user_id"),
)

# Casbin policies (PERM-02..06) in our own table so they commit with audit rows and the auth
# version bump: p = role, object, action, effect; p2 = role, entity, action, scope, effect;
# g = subject, role (users as "user:<id>", and role inheritance); d = entity, delete rule.
policy = sa.Table(
    "gx_policy",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ptype", sa.String(4), nullable=False),
    sa.Column("v0", sa.String(255), nullable=False, server_default=""),
    sa.Column("v1", sa.String(255), nullable=False, server_default=""),
    sa.Column("v2", sa.String(255), nullable=False, server_default=""),
    sa.Column("v3", sa.String(1000), nullable=False, server_default=""),
    sa.Column("v4", sa.String(255), nullable=False, server_default=""),
    sa.Column("v5", sa.String(255), nullable=False, server_default=""),
    sa.UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4", "v5", name="uq_gx_policy"),
)
# Default grants plugins contributed once: an admin who removes one does not see it return.
policy_seed = sa.Table(
    "gx_policy_seed",
    system_metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("seeded_at", sa.DateTime, nullable=False),
)

# Login security (PERM-09): server-side sessions and API tokens, both stored as hashes.
session = sa.Table(
    "gx_session",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("ip", sa.String(45)),
    sa.Column("user_agent", sa.String(300)),
    sa.Index("ix_gx_session_user", "user_id"),
)
api_token = sa.Table(
    "gx_api_token",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
    # A token may be narrowed (API-01): only these modules (None = all the user's), read only.
    sa.Column("modules", sa.JSON),
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_gx_api_token_user", "user_id"),
)

# Logs (PERM-07, PERM-08). Record changes are audited in gx_history; everything else an admin
# or the login flow changes (permissions, roles, users, logins) lands in gx_audit.
audit = sa.Table(
    "gx_audit",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("actor_name", sa.String(100)),
    sa.Column("ip", sa.String(45)),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("ix_gx_audit_at", "at"),
    sa.Index("ix_gx_audit_kind", "kind", "at"),
)
access_log = sa.Table(
    "gx_access_log",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("username", sa.String(100)),
    sa.Column("ip", sa.String(45)),
    sa.Column("action", sa.String(20), nullable=False),  # view | export
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("row_count", sa.Integer),
    sa.Column("filters", sa.JSON),
    sa.Index("ix_gx_access_log_record", "entity", "record_id", "at"),
    sa.Index("ix_gx_access_log_at", "at"),
    sa.Index("ix_gx_access_log_user", "user_id", "at"),
)

# Screens (UI-02, UI-12, DATA-14).
saved_view = sa.Table(
    "gx_saved_view",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.JSON, nullable=False),  # {"filter", "sort", "columns", "q"}
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_gx_saved_view_entity", "entity", "owner_id"),
)
notification = sa.Table(
    "gx_notification",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("title", sa.JSON, nullable=False),  # {"zh-CN": .., "en": ..}
    sa.Column("body", sa.Text),
    sa.Column("link", sa.String(300)),
    sa.Column("due_at", sa.DateTime),  # a reminder shows from this moment on
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("read_at", sa.DateTime),
    sa.Column("source_entity", sa.String(40)),
    sa.Column("source_id", sa.BigInteger),
    sa.Index("ix_gx_notification_user", "user_id", "read_at", "due_at"),
)
attachment = sa.Table(
    "gx_attachment",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(120), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(200), nullable=False),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_by_name", sa.String(100)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_gx_attachment_record", "entity", "record_id"),
)

# Plugin state an admin set on /admin/plugins (UI-09): overrides plugins.toml, read per call
# so a change reaches every worker without a restart (enabled: desired state, None = as in
# plugins.toml; settings: the whole settings object, None = as in plugins.toml).
plugin_setting = sa.Table(
    "gx_plugin_setting",
    system_metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("enabled", sa.Boolean),
    sa.Column("settings", sa.JSON),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.BigInteger),
)

# Background jobs (OPS-02). A periodic job's due time becomes one task row whose `key`
# ("<job>@<due ISO time>") is unique, so however many workers schedule it, it exists once;
# a worker owns a task while its lease runs, and an expired lease lets another take it over.
job_task = sa.Table(
    "gx_job_task",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("key", sa.String(200), unique=True),  # None: no de-duplication
    sa.Column("payload", sa.JSON),
    sa.Column("status", sa.String(12), nullable=False),  # queued|running|done|failed|cancelled
    sa.Column("run_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("lease_owner", sa.String(100)),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_gx_job_task_due", "status", "run_at"),
    sa.Index("ix_gx_job_task_job", "job", "created_at"),
)
job_run = sa.Table(
    "gx_job_run",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("task_id", sa.BigInteger, nullable=False),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(12), nullable=False),  # running|ok|error|lost
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer),
    sa.Index("ix_gx_job_run_job", "job", "started_at"),
    sa.Index("ix_gx_job_run_task", "task_id"),
)

# Outbound webhooks (API-03): endpoints per entity and event, and one delivery row per event
# and endpoint holding the exact signed body, its attempts and the last outcome.
webhook = sa.Table(
    "gx_webhook",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column(
        "events", sa.JSON, nullable=False
    ),  # ["created", "updated", "deleted", "stage_changed"]
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_gx_webhook_entity", "entity", "active"),
)
webhook_delivery = sa.Table(
    "gx_webhook_delivery",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("webhook_id", sa.Integer, nullable=False),
    sa.Column("event", sa.String(60), nullable=False),  # e.g. customer.updated
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("body", sa.Text, nullable=False),  # the JSON exactly as signed and sent
    sa.Column("status", sa.String(12), nullable=False),  # pending|delivered|failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_status", sa.Integer),  # the receiver's HTTP status
    sa.Column("last_error", sa.Text),
    sa.Column("last_response_ms", sa.Integer),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_attempt_at", sa.DateTime),
    sa.Column("delivered_at", sa.DateTime),
    sa.Index("ix_gx_webhook_delivery_hook", "webhook_id", "created_at"),
    sa.Index("ix_gx_webhook_delivery_status", "status", "created_at"),
)

# Duplicate rules (DATA-07): which fields of which entities match, and what a match does.
# Each record covered by an active rule has one key row per rule: a keyed hash of its
# normalized values, so a check is one index lookup, also across entities (lead vs customer).
dup_rule = sa.Table(
    "gx_dup_rule",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),  # [{"field": "name", "method": "company"}]
    sa.Column("targets", sa.JSON),  # [{"entity": "lead", "fields": ["company"]}]
    sa.Column("action", sa.String(12), nullable=False),  # warn | block | owner
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("indexed_at", sa.DateTime),  # when existing records last got their keys
    sa.Column("last_scan", sa.JSON),  # {"at", "groups", "records"} of the last scan
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
dup_key = sa.Table(
    "gx_dup_key",
    system_metadata,
    sa.Column("rule_id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.String(24), nullable=False),
    sa.Index("ix_gx_dup_key_key", "rule_id", "key"),
)

# Inbound web forms (API-04): a public form creates records of one entity as its owner.
web_form = sa.Table(
    "gx_web_form",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "key", sa.String(40), nullable=False, unique=True
    ),  # the public, random part of the URL
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),  # field keys shown, in order
    sa.Column("defaults", sa.JSON),  # values every submission gets (source, campaign)
    sa.Column("match_fields", sa.JSON),  # de-duplication: an existing record with equal values
    sa.Column("thank_you", sa.JSON),  # {"zh-CN": .., "en": ..}
    sa.Column("redirect_url", sa.String(2000)),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
web_form_submission = sa.Table(
    "gx_web_form_submission",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("form_id", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("ip", sa.String(45)),
    sa.Column("outcome", sa.String(20), nullable=False),  # created|duplicate|invalid|spam|limited
    sa.Column("record_id", sa.BigInteger),
    sa.Column("errors", sa.JSON),
    sa.Index("ix_gx_web_form_submission_form", "form_id", "at"),
    sa.Index("ix_gx_web_form_submission_ip", "ip", "at"),
)

# Imports (DATA-09): one row per uploaded file and run; its progress commits with its rows.
import_run = sa.Table(
    "gx_import",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),  # as uploaded; data only
    sa.Column("storage_key", sa.String(64)),  # file name under imports_dir; None: deleted
    sa.Column("format", sa.String(8), nullable=False),  # csv|xlsx
    sa.Column("encoding", sa.String(20)),  # csv: utf-8|utf-8-sig|gb18030|utf-16
    sa.Column("delimiter", sa.String(2)),  # csv: "," ";" or a tab
    sa.Column("sheet", sa.String(100)),  # xlsx: None = the first sheet
    sa.Column("header", sa.JSON, nullable=False),  # column names of the header row
    sa.Column("mapping", sa.JSON),  # one field key (or null: ignored) per column
    sa.Column("policy", sa.String(8), nullable=False),  # skip|update|create (for duplicates)
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    # draft (mapping not confirmed) | queued | running | done | failed | cancelled
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("total_rows", sa.Integer),  # an estimate until the run has read every row
    sa.Column("next_row", sa.Integer, nullable=False, server_default="2"),  # next file row to read
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("error", sa.Text),  # why the whole run stopped (not a row's problem)
    sa.Column("source_id", sa.Integer),  # the dry run this real run repeats
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_gx_import_user", "user_id", "id"),
)
import_issue = sa.Table(
    "gx_import_issue",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("import_id", sa.Integer, nullable=False),
    sa.Column("row_no", sa.Integer, nullable=False),  # as the spreadsheet numbers it
    sa.Column("outcome", sa.String(10), nullable=False),  # failed|skipped|updated
    sa.Column("record_id", sa.BigInteger),  # the existing record skipped or updated
    sa.Column("messages", sa.JSON),  # [{"column", "field", "code", "message": {zh-CN, en}}]
    sa.Column("raw", sa.Text),  # the original row as JSON, sealed (it may hold mobiles)
    sa.Index("ix_gx_import_issue_import", "import_id", "outcome", "row_no"),
)
import_mapping = sa.Table(
    "gx_import_mapping",
    system_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("mapping", sa.JSON, nullable=False),  # normalized header -> field key ("" ignored)
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("user_id", "entity", name="uq_gx_import_mapping"),
)

# Record merges (DATA-08): everything one merge changed, kept so it can be undone (the recycle
# bin restores the merged-away records, puts the survivor's values back and moves the
# re-linked rows home). Values of sensitive fields, and of fields the merging user could not
# see, are sealed like history diffs (DATA-12).
merge_log = sa.Table(
    "gx_merge",
    system_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("survivor_id", sa.BigInteger, nullable=False),
    sa.Column("merged_ids", sa.JSON, nullable=False),  # [12, 15]
    sa.Column("merged_values", sa.JSON, nullable=False),  # {"12": {field: value}} as they were
    sa.Column("survivor_before", sa.JSON, nullable=False),  # {field: value} before the merge
    sa.Column("values_from", sa.JSON, nullable=False),  # {field: record id the value came from}
    # [{"table", "column", "from", "to", "ids"}]: rows re-pointed from a merged-away record
    sa.Column("relinked", sa.JSON, nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("actor_name", sa.String(100)),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("undone_at", sa.DateTime),  # set by whatever reverses the merge (recycle bin)
    sa.Index("ix_gx_merge_survivor", "entity", "survivor_id"),
    sa.Index("ix_gx_merge_at", "at"),
)
