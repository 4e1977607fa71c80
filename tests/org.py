"""A small sales organisation for the permission tests, built through the public service:
departments, users with their default roles, and each owner's customer, contact and
follow-up, created by the owner. Sales reps cannot see customer remarks and service agents
cannot see customer interests (PERM-03)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.core import Guanxi

# key, name, parent key
DEPARTMENTS = (
    ("sales", "销售部", None),
    ("east", "华东销售部", "sales"),
    ("shanghai", "上海组", "east"),  # a sub-department of east
    ("north", "华北销售部", "sales"),
    ("service", "客服部", None),
)
# username, display name, department key, role, attributes
USERS = (
    ("admin", "管理员", None, "admin", {}),
    ("rep_east", "王东", "east", "sales_rep", {"region": "east"}),
    ("rep_east2", "李华", "east", "sales_rep", {"region": "east"}),  # rep_east's colleague
    ("rep_north", "赵北", "north", "sales_rep", {"region": "north"}),
    ("rep_shanghai", "孙沪", "shanghai", "sales_rep", {"region": "east"}),
    ("manager", "周经理", "east", "sales_manager", {}),  # manages east and shanghai
    ("agent", "吴客服", "service", "service_agent", {}),
)
# record key -> the user who owns (and created) the customer, its contact and follow-up
OWNERS = {
    "east": "rep_east",
    "east2": "rep_east2",
    "north": "rep_north",
    "shanghai": "rep_shanghai",
    "manager": "manager",
}
NAMES = {
    "east": "东海重工",
    "east2": "东岳精密",
    "north": "北辰机电",
    "shanghai": "浦江电子",
    "manager": "钱塘贸易",
}
MOBILES = {
    "east": "13812344321",
    "east2": "13900000002",
    "north": "13900000003",
    "shanghai": "13900000004",
    "manager": "13900000005",
}
REGIONS = {
    "east": "east",
    "east2": "east",
    "north": "north",
    "shanghai": "east",
    "manager": "south",
}
REMARK = "底价八折内部评估"  # in every customer's remarks; hidden from sales reps
INTEREST = "正在对比竞品报价"  # in every customer's interests; hidden from service agents
COMPANY_SUFFIX = "有限公司"


def customer_input(key: str) -> dict[str, Any]:
    return {
        "name": NAMES[key],
        "company": NAMES[key] + COMPANY_SUFFIX,
        "source": "website",
        "mobile": MOBILES[key],
        "email": f"{key}@example.com",
        "region": REGIONS[key],
        "remarks": f"{REMARK}-{key}",
        "interests": f"{INTEREST}-{key}",
    }


def rep_input(key: str) -> dict[str, Any]:
    """A customer as a sales rep may enter it: without the remarks hidden from them."""
    return {k: v for k, v in customer_input(key).items() if k != "remarks"}


@dataclass
class Org:
    platform: Guanxi
    departments: dict[str, int]
    users: dict[str, int]
    customers: dict[str, int]  # record key -> id
    contacts: dict[str, int]
    followups: dict[str, int]

    def actor(self, username: str, ip: str | None = None) -> Actor:
        """The user's Actor as a request would load it now (roles, teams, attributes)."""
        return identity.actor_for(self.platform.db, username, ip=ip)

    @property
    def admin(self) -> Actor:
        return self.actor("admin")

    def stored(self, entity: str, record_id: int) -> dict[str, Any]:
        """The record as the platform holds it (the system actor sees every field)."""
        return self.platform.records.get(Actor.system(), entity, record_id)

    def version(self, entity: str, record_id: int) -> int:
        return int(self.stored(entity, record_id)["version"])


def build_org(platform: Guanxi) -> Org:
    db = platform.db
    departments: dict[str, int] = {}
    for key, name, parent in DEPARTMENTS:
        departments[key] = identity.create_department(
            db, name, departments[parent] if parent else None
        )
    users: dict[str, int] = {}
    for username, display_name, department, _role, attributes in USERS:
        users[username] = identity.create_user(
            db,
            username,
            display_name,
            department_id=departments[department] if department else None,
            attributes=attributes,
        )
    # The first administrator is made by the platform itself; every other grant by them.
    platform.permissions.assign_role(Actor.system(), users["admin"], "admin")
    admin = identity.actor_for(db, "admin")
    for username, _name, _department, role, _attributes in USERS[1:]:
        platform.permissions.assign_role(admin, users[username], role)

    records = platform.records
    customers, contacts, followups = {}, {}, {}
    for key, username in OWNERS.items():
        owner = identity.actor_for(db, username)
        customers[key] = records.create(owner, "customer", customer_input(key))["id"]
        contacts[key] = records.create(
            owner,
            "contact",
            {"name": f"{NAMES[key]}联系人", "customer": customers[key], "mobile": MOBILES[key]},
        )["id"]
        followups[key] = records.create(
            owner,
            "followup",
            {"customer": customers[key], "method": "phone", "content": f"{NAMES[key]}首次电话"},
        )["id"]
    platform.permissions.set_field_access(admin, "sales_rep", "customer", "remarks", "hidden")
    platform.permissions.set_field_access(admin, "service_agent", "customer", "interests", "hidden")
    return Org(platform, departments, users, customers, contacts, followups)
