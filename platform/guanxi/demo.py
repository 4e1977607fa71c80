"""Realistic zh-CN demo data (OPS-01): departments, sales reps, customers with contacts,
follow-ups, tasks and notes, all written through the record pipeline."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from faker import Faker

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import identity

if TYPE_CHECKING:
    from guanxi.core import Guanxi

BEHAVIOUR_TAGS = {
    "bought_erp": "购买过ERP系统",
    "cost_control": "关注成本控制",
    "price_sensitive": "价格敏感",
    "read_whitepaper": "浏览过产品白皮书",
    "referral": "老客户转介绍",
    "new_energy": "关注新能源产品",
}
FOLLOWUP_LINES = [
    ("客户是制造业企业,有采购CRM系统的需求,预算约20万元", "对功能比较满意", "下周发送解决方案"),
    ("提交解决方案,客户对功能满意,但认为价格偏高", "希望价格再优惠一些", "调整报价后再沟通"),
    ("调整报价(18万元),客户同意下周签订合同", "同意报价", "准备合同草案"),
    ("电话回访,了解使用情况", "整体满意,希望增加移动端功能", "反馈给产品部"),
    ("上门拜访,演示系统功能", "技术负责人参与,提出集成ERP的需求", "安排技术交流会"),
    ("微信沟通展会后续安排", "对新产品感兴趣", "寄送样品与资料"),
]


def load_demo(platform: Guanxi, customers: int = 220, seed: int = 20261122) -> dict[str, int]:
    """Create the demo organisation and records; returns how many of each were made."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    Faker.seed(seed)
    system = Actor.system()
    head = identity.create_department(platform.db, "总部")
    departments = [
        identity.create_department(platform.db, name, head)
        for name in ("华东销售部", "华北销售部", "华南销售部")
    ]
    service = identity.create_department(platform.db, "客户服务部", head)
    reps: list[Actor] = []
    roles = platform.permissions
    manager = identity.create_user(
        platform.db, "manager01", fake.name(), department_id=head, email="manager01@example.cn"
    )
    roles.assign_role(system, manager, "sales_manager")
    for index in range(12):
        department_id = departments[index % len(departments)]
        username = f"rep{index + 1:02d}"
        user_id = identity.create_user(
            platform.db,
            username,
            fake.name(),
            department_id=department_id,
            email=f"{username}@example.cn",
            attributes={"region": ("east", "north", "south")[index % 3]},
        )
        roles.assign_role(system, user_id, "sales_rep")
        reps.append(identity.actor_for(platform.db, username))
    agent = identity.create_user(platform.db, "service01", fake.name(), department_id=service)
    roles.assign_role(system, agent, "service_agent")
    platform.admin.add_tag_group(
        system, "customer", "behaviour", {"zh-CN": "行为标签", "en": "Behaviour"}, kind="behaviour"
    )
    for code, label in BEHAVIOUR_TAGS.items():
        platform.admin.add_tag(system, "customer", "behaviour", code, label)

    customer_meta = platform.registry.get("customer")
    options = {
        key: [o.code for o in customer_meta.field(key).options]
        for key in ("source", "industry", "size", "region", "level")
    }
    counts = {"customers": 0, "contacts": 0, "followups": 0, "tasks": 0, "notes": 0}
    records = platform.records
    for _index in range(customers):
        rep = rng.choice(reps)
        stage = rng.choices(
            ["potential", "intention", "negotiating", "deal", "lost"], [30, 25, 20, 15, 10]
        )[0]
        company = fake.company()
        customer = records.create(
            rep,
            "customer",
            {
                "name": fake.name(),
                "company": company,
                "mobile": fake.phone_number(),
                "email": fake.email(),
                "title": rng.choice(
                    ["总经理", "采购经理", "IT主管", "财务总监", "运营经理", "技术负责人"]
                ),
                "source": rng.choice(options["source"]),
                "source_detail": rng.choice(
                    ["2024春季广交会", "官网表单", "老客户推荐", "百度推广", "行业峰会", ""]
                ),
                "industry": rng.choice(options["industry"]),
                "size": rng.choice(options["size"]),
                "region": rng.choice(options["region"]),
                "level": rng.choice(options["level"]),
                "expected_value": rng.randrange(2, 200) * 5000,
                "interests": rng.choice(
                    ["关注新能源产品", "关注成本控制", "需要移动端", "希望对接ERP", ""]
                ),
                "address": fake.address(),
                "rating": rng.randint(1, 5),
                "tags": rng.sample(sorted(BEHAVIOUR_TAGS), rng.randint(0, 3)),
                "next_followup_at": (
                    clock.now_utc() + timedelta(days=rng.randint(-5, 20))
                ).isoformat()
                + "Z",
                "remarks": rng.choice(["对价格敏感", "决策周期较长", "需要上门演示", ""]),
            },
        )
        counts["customers"] += 1
        if stage != "potential":
            customer = _advance(records, rep, customer, stage)
        contact_ids = []
        for _c in range(rng.randint(1, 3)):
            contact = records.create(
                rep,
                "contact",
                {
                    "name": fake.name(),
                    "customer": customer["id"],
                    "mobile": fake.phone_number(),
                    "email": fake.email(),
                    "title": fake.job()[:50],
                    "is_primary": not contact_ids,
                },
            )
            contact_ids.append(contact["id"])
            counts["contacts"] += 1
        for _f in range(rng.randint(2, 4)):
            content, feedback, next_step = rng.choice(FOLLOWUP_LINES)
            records.create(
                rep,
                "followup",
                {
                    "customer": customer["id"],
                    "contact": rng.choice(contact_ids),
                    "method": rng.choice(["phone", "email", "visit", "wechat", "meeting"]),
                    "followed_at": (
                        clock.now_utc() - timedelta(days=rng.randint(0, 90))
                    ).isoformat()
                    + "Z",
                    "content": content,
                    "feedback": feedback,
                    "next_step": next_step,
                },
            )
            counts["followups"] += 1
        if rng.random() < 0.5:
            records.create(
                rep,
                "task",
                {
                    "title": f"跟进{company}",
                    "customer": customer["id"],
                    "due_at": (clock.now_utc() + timedelta(days=rng.randint(0, 14))).isoformat()
                    + "Z",
                    "priority": rng.choice(["low", "normal", "high", "urgent"]),
                },
            )
            counts["tasks"] += 1
        if rng.random() < 0.3:
            records.create(
                rep,
                "note",
                {
                    "customer": customer["id"],
                    "content": rng.choice(
                        [
                            "客服:客户投诉过售后响应慢",
                            "市场部:该客户参加了春季发布会",
                            "财务:回款及时",
                        ]
                    ),
                },
            )
            counts["notes"] += 1
    users = {actor.username: actor for actor in reps}
    for username in ("manager01", "service01"):
        users[username] = identity.actor_for(platform.db, username)
    for extra in platform.pm.hook.demo_data(platform=platform, users=users):
        for kind, made in (extra or {}).items():  # a plugin's customers add to the core's
            counts[kind] = counts.get(kind, 0) + made
    return counts


def _advance(records, rep: Actor, customer: dict, stage: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    path = {
        "intention": ["intention"],
        "negotiating": ["intention", "negotiating"],
        "deal": ["intention", "negotiating", "deal"],
        "lost": ["intention", "lost"],
    }[stage]
    for step in path:
        customer = records.update(
            rep,
            "customer",
            customer["id"],
            {"stage": step},
            version=customer["version"],
            reason="流失:预算取消" if step == "lost" else None,
        )
    return customer


def has_data(platform: Guanxi) -> bool:
    return platform.records.count(Actor.system(), "customer", cap=1).value > 0
