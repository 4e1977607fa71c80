"""The SFA share of `guanxi demo` (the `demo_data` hook): leads in every status (a few in the
pool), opportunities on every stage of the pipeline with the reasons a rep gives, won deals
with contracts, payment plans and payments, products with a price list and quotes, targets
for the month, quarter and year, and customers in the public pool — so a new user opens a
live funnel. Everything is written through the record service and the plugin's services."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from guanxi import clock
from guanxi.api import Actor, GuanxiError
from guanxi_sfa import converting, records_util

SEED = 20261123
COMPANIES = ("恒达精密机械", "华瑞电子", "远景新材料", "博通物流", "天元医疗", "金石软件",
             "瑞丰食品", "海川环保", "正泰仪表", "云帆教育", "鼎盛建材", "中科光电")  # fmt: skip
CITIES = ("苏州", "杭州", "宁波", "北京", "天津", "广州", "深圳", "成都")
NAMES = ("陈经理", "刘总", "王工", "张主任", "李经理", "赵总监", "孙采购", "周经理")
LEAD_SOURCES = ("exhibition", "website", "referral", "wechat", "advertising", "cold_call")
PIPELINE = ("following", "opportunity", "proposal", "negotiation", "won")
STAGE_REASONS = {
    "following": "首次拜访完成，客户愿意继续沟通",
    "opportunity": "客户确认采购意向和预算",
    "proposal": "需求调研完成，已提交方案",
    "negotiation": "客户接受报价，进入合同谈判",
    "won": "合同已签订",
    "lost": "客户选择了竞争对手",
}


def _iso_day(day: date) -> str:
    return day.isoformat()


def load(platform: Any, users: dict[str, Actor]) -> dict[str, int]:
    rng = random.Random(SEED)
    reps = [actor for name, actor in sorted(users.items()) if name.startswith("rep")]
    if not reps:
        return {}
    core = ("customer", "contact", "followup", "task", "note")
    before = {kind: _count(platform, kind) for kind in core}
    counts = {"leads": 0, "opportunities": 0}
    _leads(platform, rng, reps, counts)
    won = _opportunities(platform, rng, reps, counts)
    counts["won_opportunities"] = len(won)
    counts["pooled_customers"] = _pool(platform, rng, reps)
    manager = users.get("manager01")
    products, price_list = _catalog(platform)
    counts["products"] = len(products)
    counts["quotes"] = _quotes(platform, rng, reps, products, price_list)
    if manager is not None:
        counts["contracts"], counts["payments"] = _contracts(platform, rng, won, manager)
        counts["sales_targets"] = _targets(platform, reps, manager)
    for kind in core:  # customers and contacts from conversions, follow-ups, first-touch tasks
        counts[f"{kind}s"] = _count(platform, kind) - before[kind]
    return counts


def _count(platform: Any, entity: str) -> int:
    return int(platform.records.count(records_util.SYSTEM, entity, cap=10_000_000).value)


def _lead_values(rng: random.Random, serial: int) -> dict[str, Any]:
    company = f"{rng.choice(CITIES)}{rng.choice(COMPANIES)}{serial:02d}有限公司"
    return {
        "name": rng.choice(NAMES), "company": company, "mobile": f"1390000{serial:04d}",
        "source": rng.choice(LEAD_SOURCES), "source_detail": rng.choice(
            ["2024春季广交会", "官网表单", "老客户推荐", "百度推广", "行业峰会"]),
        "industry": rng.choice(["manufacturing", "it", "retail", "healthcare", "education"]),
        "region": rng.choice(["east", "north", "south"]),
        "product_line": rng.choice(["crm", "erp", "finance"]),
        "need": rng.choice(["需要移动端销售管理", "希望对接ERP", "关注回款管理"]),
    }  # fmt: skip


def _leads(platform: Any, rng: random.Random, reps: list[Actor], counts: dict[str, int]) -> None:
    records = platform.records
    for serial in range(1, 31):
        rep = rng.choice(reps)
        values = _lead_values(rng, serial)
        try:
            if serial <= 5:  # nobody's yet: the lead pool
                records.create(records_util.SYSTEM, "lead", values)
                counts["leads"] += 1
                continue
            lead = records.create(rep, "lead", values)
        except GuanxiError:
            continue
        counts["leads"] += 1
        if serial % 4 == 0:
            continue  # new, untouched
        records.create(rep, "followup", {"lead": lead["id"], "method": "phone",
                                         "content": "电话沟通需求，客户有兴趣"})  # fmt: skip
        if serial % 7 == 0:
            _try(lambda lead=lead, rep=rep: _abandon(platform, rep, lead["id"]))
        elif serial % 3 == 0:
            plan = converting.Plan(
                opportunity={"name": f"{values['company']} CRM项目", "amount": "120000",
                             "expected_close": _iso_day(clock.today_local() + timedelta(days=45))},
                reason="需求明确，转为客户",
            )  # fmt: skip
            _try(lambda lead=lead, rep=rep, plan=plan: converting.convert(
                platform, rep, lead["id"], plan))  # fmt: skip


def _abandon(platform: Any, rep: Actor, lead_id: int) -> None:
    from guanxi_sfa import leads

    leads.abandon(platform, rep, lead_id, "no_need", "今年没有预算", to_pool=False)


def _try(action: Any) -> Any:
    try:
        return action()
    except GuanxiError:
        return None


def _opportunities(
    platform: Any, rng: random.Random, reps: list[Actor], counts: dict[str, int]
) -> list[dict[str, Any]]:
    records = platform.records
    won: list[dict[str, Any]] = []
    today = clock.today_local()
    for rep in reps:
        customers = records.query(rep, "customer", sort=["id"], limit=5).rows
        for index, customer in enumerate(customers):
            target = rng.choices([*PIPELINE, "lost"], [20, 20, 18, 14, 18, 10])[0]
            amount = Decimal(rng.randrange(3, 60) * 10000)
            try:
                deal = records.create(rep, "opportunity", {
                    "name": f"{customer['company']} {rng.choice(['CRM', 'ERP对接', '财务模块'])}项目",
                    "customer": customer["id"], "amount": str(amount),
                    "expected_close": _iso_day(today + timedelta(days=rng.randint(-20, 80))),
                    "product_line": rng.choice(["crm", "erp", "finance"]),
                    "source": rng.choice(LEAD_SOURCES),
                })  # fmt: skip
            except GuanxiError:
                continue
            counts["opportunities"] += 1
            deal = _advance(records, rep, deal, target, amount, index)
            if deal.get("stage") == "won":
                won.append(deal)
    return won


def _advance(
    records: Any, rep: Actor, deal: dict[str, Any], target: str, amount: Decimal, index: int
) -> dict[str, Any]:
    conditions: dict[str, dict[str, Any]] = {
        "opportunity": {"purchase_intent": "年内上线销售管理系统", "budget_amount": str(amount),
                        "budget_confirmed": True},
        "proposal": {"requirements": "移动端、审批流、与ERP对接"},
        "negotiation": {"quote_accepted": True},
        "won": {"signed_on": _iso_day(clock.today_local() - timedelta(days=index * 3)),
                "won_reason": "product"},
        "lost": {"loss_reason": "competitor", "competitor": "某国际CRM厂商"},
    }  # fmt: skip
    path = (
        list(PIPELINE[: PIPELINE.index(target) + 1]) if target != "lost" else ["following", "lost"]
    )
    for stage in path:
        try:
            deal = dict(records.update(
                rep, "opportunity", deal["id"], {"stage": stage, **conditions.get(stage, {})},
                version=deal["version"], reason=STAGE_REASONS[stage],
            ))  # fmt: skip
        except GuanxiError:
            break
    return deal


def _pool(platform: Any, rng: random.Random, reps: list[Actor]) -> int:
    from guanxi_sfa.pool import claiming

    moved = 0
    for rep in reps[:6]:
        rows = platform.records.query(rep, "customer", sort=["-id"], limit=1).rows
        why = rng.choice(["客户长期无回应", "客户已转向竞品"])
        if rows and _try(
            lambda rep=rep, row=rows[0], why=why: claiming.release(
                platform, rep, row["id"], None, why
            )
        ):
            moved += 1
    return moved


PRODUCTS = (
    ("CRM-STD", "关系CRM 标准版（每用户/年）", "subscription", "用户·年", "1200"),
    ("CRM-PRO", "关系CRM 专业版（每用户/年）", "subscription", "用户·年", "2400"),
    ("ERP-LINK", "ERP 对接模块", "software", "套", "38000"),
    ("IMPL", "实施服务", "service", "人天", "2500"),
    ("TRAIN", "现场培训", "service", "天", "4000"),
    ("PAD", "销售平板终端", "hardware", "台", "3200"),
)


def _catalog(platform: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    records = platform.records
    products = []
    for code, name, category, unit, price in PRODUCTS:
        tax = "6" if category in ("service", "subscription") else "13"
        found = _try(lambda c=code, n=name, k=category, u=unit, p=price, t=tax: records.create(
            records_util.SYSTEM, "product",
            {"code": c, "name": n, "category": k, "unit": u, "list_price": p, "tax_rate": t}))  # fmt: skip
        if found:
            products.append(dict(found))
    today = clock.today_local()
    price_list = _try(lambda: records.create(records_util.SYSTEM, "price_list", {
        "name": f"{today.year}年渠道价格表", "valid_from": date(today.year, 1, 1).isoformat(),
        "valid_to": date(today.year, 12, 31).isoformat(), "active": True}))  # fmt: skip
    if price_list:
        for product in products[:2]:  # volume price for licences from 50 users
            price = Decimal(str(product["list_price"])) * Decimal("0.85")
            _try(lambda p=product, v=price: records.create(records_util.SYSTEM, "price_list_item", {
                "price_list": price_list["id"], "product": p["id"], "unit_price": str(v),
                "min_quantity": "50"}))  # fmt: skip
    return products, (dict(price_list) if price_list else None)


def _quotes(
    platform: Any, rng: random.Random, reps: list[Actor], products: list[dict[str, Any]],
    price_list: dict[str, Any] | None,
) -> int:  # fmt: skip
    from guanxi_sfa.commerce import quotes

    if not products:
        return 0
    made = 0
    for rep in reps:
        deals = platform.records.query(
            rep, "opportunity", {"field": "stage", "op": "in", "value": ["proposal", "negotiation"]},
            limit=1,
        ).rows  # fmt: skip
        for deal in deals:
            quote = _try(lambda d=deal, r=rep: platform.records.create(r, "quote", {
                "subject": d["name"], "customer": d["customer"], "opportunity": d["id"],
                "price_list": price_list["id"] if price_list else None}))  # fmt: skip
            if not quote:
                continue
            made += 1
            for product, quantity in ((products[1], rng.choice([20, 60, 100])),
                                      (products[3], rng.choice([10, 20, 30]))):  # fmt: skip
                _try(lambda q=quote, p=product, n=quantity, r=rep: quotes.add_line(
                    platform, r, q["id"], {"product": p["id"], "quantity": str(n),
                                           "discount": str(rng.choice([0, 5, 8]))}))  # fmt: skip
    return made


def _contracts(
    platform: Any, rng: random.Random, won: list[dict[str, Any]], manager: Actor
) -> tuple[int, int]:
    from guanxi_sfa.contracts import approvals
    from guanxi_sfa.contracts import service as contracts
    from guanxi_sfa.receivables import plans

    made = paid = 0
    owners = _actors(platform)
    for deal in won:
        owner = owners.get(deal.get("owner_id"))
        if owner is None:
            continue
        contract = _try(lambda d=deal, o=owner: contracts.from_opportunity(platform, o, d["id"]))
        if not contract:
            continue
        made += 1
        if not _try(lambda c=contract, o=owner: approvals.submit(
                platform, o, "contract", c["id"], "请审批")):  # fmt: skip
            continue
        if not _try(lambda c=contract: approvals.decide(
                platform, manager, "contract", c["id"], True, "同意")):  # fmt: skip
            continue
        rows = _try(lambda c=contract, o=owner: plans.generate(
            platform, o, c["id"], rng.choice(["30/70", "30/60/10"]))) or []  # fmt: skip
        if rows:
            first = rows[0]
            amount = Decimal(str(first["amount"])) * Decimal(rng.choice(["0.5", "1"]))
            if _try(lambda c=contract, f=first, a=amount, o=owner: platform.records.create(
                    o, "payment", {"contract": c["id"], "installment": f["id"],
                                   "amount": str(a.quantize(Decimal("0.01"))),
                                   "received_on": clock.today_local().isoformat(),
                                   "method": "bank"})):  # fmt: skip
                paid += 1
    return made, paid


def _actors(platform: Any) -> dict[int, Actor]:
    """Every user as an Actor, by id (read once, not per deal)."""
    from guanxi.auth import identity

    return {
        int(u["id"]): identity.actor_for(platform.db, u["username"])
        for u in identity.list_users(platform.db)
    }


def _targets(platform: Any, reps: list[Actor], manager: Actor) -> int:
    today = clock.today_local()
    made = 0
    for rep in reps:
        for period_type, period, amount in (("month", today.month, "300000"),
                                            ("quarter", (today.month - 1) // 3 + 1, "900000")):  # fmt: skip
            if _try(lambda r=rep, t=period_type, n=period, a=amount: platform.records.create(
                    manager, "sales_target", {"target_type": "user", "owner_id": r.user_id,
                                              "period_type": t, "year": today.year, "period": n,
                                              "won_amount_target": a,
                                              "payment_target": str(int(a) // 2)})):  # fmt: skip
                made += 1
    return made
