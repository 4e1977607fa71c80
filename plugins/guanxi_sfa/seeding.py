"""What the plugin sets up once, the first time it starts: duplicate rules comparing a new
lead with leads, customers and contacts (SFA-01; seed 000 §2.1.1 "search by mobile or company
before entering"). Once: an administrator who changes or removes them keeps that choice."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import GuanxiError
from guanxi_sfa import records_util
from guanxi_sfa.tables import seeded

log = logging.getLogger(__name__)
DUPLICATE_RULES_KEY = "duplicate_rules"


def _rule(name: str, field: str, method: str, target: str, target_field: str) -> dict[str, Any]:
    """One rule per other module: a rule naming customers and contacts together would also
    compare a customer with its own contacts (a rule matches across all modules it names)."""
    return {
        "name": name, "entity": "lead", "action": "warn", "active": True,
        "fields": [{"field": field, "method": method}],
        "targets": [{"entity": target, "fields": [target_field]}],
    }  # fmt: skip


RULES = (
    _rule("线索手机号与客户重复", "mobile", "exact", "customer", "mobile"),
    _rule("线索手机号与联系人重复", "mobile", "exact", "contact", "mobile"),
    _rule("线索邮箱与客户重复", "email", "exact", "customer", "email"),
    _rule("线索邮箱与联系人重复", "email", "exact", "contact", "email"),
    _rule("线索公司名称与客户重复", "company", "normalized", "customer", "company"),
)


def seed(platform: Any) -> None:
    book = getattr(platform, "duplicates", None)
    if book is None:
        return
    with platform.db.unit_of_work() as connection:
        if not sa.inspect(connection).has_table(seeded.name):
            return  # started without a sync (a command on a database not set up yet)
        done = connection.execute(
            sa.select(seeded.c.key).where(seeded.c.key == DUPLICATE_RULES_KEY)
        ).first()
        if done is not None:
            return
    try:
        with platform.db.unit_of_work() as connection:
            connection.execute(
                sa.insert(seeded).values(key=DUPLICATE_RULES_KEY, at=clock.now_utc())
            )
    except sa.exc.IntegrityError:
        return  # another worker starting at the same moment does it
    for rule in RULES:
        try:
            book.save(records_util.SYSTEM, rule)
        except GuanxiError:
            log.exception("could not set up the duplicate rule %r", rule["name"])
