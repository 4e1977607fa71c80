"""Shared pieces of the benchmarks: platform set-up, zh-CN value pools, timing helpers.

Faker is called only to build pools of a few thousand values; rows combine pool entries
with `random`, which is ~100x faster than calling Faker per row.
"""

from __future__ import annotations

import bisect
import os
import platform as py_platform
import random
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from guanxi.meta.entity import SYSTEM_FIELDS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "sqlite:////tmp/guanxi-bench/bench.db"
NOW = datetime(2026, 11, 22, 8, 0, 0)  # "today" of the benchmark data (UTC, naive)
YEARS = 3

STAGES = ("potential", "intention", "negotiating", "deal", "lost")
STAGE_WEIGHTS = (35, 25, 15, 15, 10)
SOURCES = (
    "exhibition",
    "website",
    "referral",
    "advertising",
    "wechat",
    "cold_call",
    "partner",
    "other",
)
SOURCE_WEIGHTS = (12, 22, 15, 10, 20, 10, 8, 3)
SIZES = ("micro", "small", "medium", "large")
SIZE_WEIGHTS = (20, 45, 25, 10)
LEVELS = ("S", "A", "B", "C")
LEVEL_WEIGHTS = (5, 20, 45, 30)

# industry code -> words that appear in company names of that industry
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "manufacturing": ("机械", "精密", "重工", "制造", "材料", "电子"),
    "it": ("软件", "网络", "信息", "数据", "智能", "云计算"),
    "finance": ("投资", "金融", "资本", "保险", "财富"),
    "education": ("教育", "培训", "文化", "书院"),
    "healthcare": ("医疗", "医药", "生物", "健康", "器械"),
    "retail": ("商贸", "零售", "百货", "电商", "贸易"),
    "energy": ("能源", "电力", "新能源", "石化", "光伏"),
    "logistics": ("物流", "供应链", "运输", "快递", "仓储"),
    "real_estate": ("置业", "地产", "物业", "建设"),
    "other": ("传媒", "咨询", "广告", "餐饮", "会展"),
}
INDUSTRIES = tuple(INDUSTRY_WORDS)
INDUSTRY_WEIGHTS = (20, 18, 8, 6, 9, 12, 5, 8, 6, 8)

# region code -> cities
REGION_CITIES: dict[str, tuple[str, ...]] = {
    "east": (
        "上海",
        "杭州",
        "南京",
        "苏州",
        "宁波",
        "合肥",
        "福州",
        "厦门",
        "济南",
        "青岛",
        "无锡",
    ),
    "north": ("北京", "天津", "石家庄", "太原", "呼和浩特", "保定"),
    "south": ("广州", "深圳", "东莞", "佛山", "南宁", "海口", "珠海"),
    "central": ("武汉", "长沙", "郑州", "南昌", "宜昌"),
    "southwest": ("成都", "重庆", "昆明", "贵阳", "绵阳"),
    "northwest": ("西安", "兰州", "银川", "乌鲁木齐", "西宁"),
    "northeast": ("沈阳", "大连", "长春", "哈尔滨"),
    "overseas": ("香港", "新加坡", "吉隆坡", "东京"),
}
REGIONS = tuple(REGION_CITIES)
REGION_WEIGHTS = (30, 18, 20, 10, 9, 5, 5, 3)
COMPANY_SUFFIXES = (
    "有限公司",
    "有限公司",
    "有限公司",
    "股份有限公司",
    "集团有限公司",
    "有限责任公司",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "180",
    "181",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
)
INTERESTS = (
    "数字化转型",
    "降本增效",
    "私有化部署",
    "移动办公",
    "数据分析",
    "出海业务",
    "供应链协同",
    "客户运营",
    "智能制造",
    "合规审计",
    "线上营销",
    "渠道管理",
)
DETAILS = (
    "2024春季广交会",
    "2025上海工博会",
    "官网留资",
    "老客户介绍",
    "百度推广",
    "抖音直播",
    "行业峰会",
    "渠道商推荐",
    "公众号文章",
    "展会名片",
)
DEPARTMENTS = (
    "销售中心",
    "华东销售部",
    "华北销售部",
    "华南销售部",
    "大客户部",
    "渠道部",
    "海外业务部",
)

# Columns the seeder fills (system columns + every stored field of customer), in COPY order.
CUSTOMER_COLUMNS = (
    *SYSTEM_FIELDS,
    "name",
    "company",
    "mobile",
    "email",
    "title",
    "source",
    "source_detail",
    "industry",
    "size",
    "region",
    "level",
    "stage",
    "expected_value",
    "interests",
    "website",
    "address",
    "rating",
    "next_followup_at",
    "remarks",
)


@dataclass
class Pools:
    names: list[str]
    cores: list[str]  # the distinctive middle part of a company name
    addresses: list[str]
    jobs: list[str]
    usernames: list[str]
    domains: list[str]
    remarks: list[str]
    hosts: list[str]


def build_pools(seed: int = 20261122, size: int = 3000) -> Pools:
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    given = {ch for _ in range(size) for ch in fake.first_name()}
    given_chars = sorted(given)
    rnd = random.Random(seed)
    cores = {fake.company_prefix() for _ in range(size)}
    while len(cores) < size:  # Faker has ~80 prefixes: add two-character names like 鸿睿, 嘉禾
        cores.add(rnd.choice(given_chars) + rnd.choice(given_chars))
    return Pools(
        names=sorted({fake.name() for _ in range(size)}),
        cores=sorted(cores),
        addresses=[fake.address().rsplit(" ", 1)[0] for _ in range(size)],
        jobs=sorted({fake.job() for _ in range(size // 4)}),
        usernames=sorted({fake.user_name() for _ in range(size)}),
        domains=[
            "qq.com",
            "163.com",
            "126.com",
            "sina.com",
            "foxmail.com",
            "aliyun.com",
            "outlook.com",
        ],
        remarks=[fake.sentence(nb_words=12) for _ in range(size // 3)],
        hosts=sorted({fake.domain_word() for _ in range(size // 2)}),
    )


class RowMaker:
    """Realistic customer values from the pools; `row(i)` is a tuple in CUSTOMER_COLUMNS order."""

    def __init__(self, pools: Pools, owners: dict[int, int], seed: int = 7) -> None:
        self.p = pools
        self.rnd = random.Random(seed)
        self.owner_ids = list(owners)
        self.owner_dept = owners
        # uneven books: the busiest rep has ~3x the customers of the quietest
        self.owner_weights = [0.5 + self.rnd.random() for _ in self.owner_ids]
        self.cum_owner = _cumulative(self.owner_weights)
        self._cum: dict[tuple[str, ...], list[float]] = {}

    def _pick(self, values: tuple[str, ...], weights: tuple[int, ...]) -> str:
        cum = self._cum.get(values)
        if cum is None:
            cum = self._cum[values] = _cumulative(list(weights))
        return values[bisect.bisect_right(cum, self.rnd.random() * cum[-1])]

    def company(self, industry: str, region: str) -> str:
        r = self.rnd
        city = r.choice(REGION_CITIES[region]) if r.random() < 0.7 else ""
        word, suffix = r.choice(INDUSTRY_WORDS[industry]), r.choice(COMPANY_SUFFIXES)
        return f"{city}{r.choice(self.p.cores)}{word}{suffix}"

    def mobile(self) -> str:
        return self.rnd.choice(MOBILE_PREFIXES) + f"{self.rnd.randrange(100_000_000):08d}"

    def money(self, stage: str) -> Decimal | None:
        if stage == "potential" and self.rnd.random() < 0.5:
            return None
        value = min(self.rnd.lognormvariate(11.0, 1.2), 90_000_000)
        return Decimal(int(value // 100) * 100 + self.rnd.choice((0, 0, 0, 50))).quantize(
            Decimal("0.01")
        )

    def fields(self, stage: str | None = None) -> dict[str, Any]:
        """Business fields only (what a user would type): used by seed and create bench."""
        r, p = self.rnd, self.p
        industry = self._pick(INDUSTRIES, INDUSTRY_WEIGHTS)
        region = self._pick(REGIONS, REGION_WEIGHTS)
        stage = stage or self._pick(STAGES, STAGE_WEIGHTS)
        return {
            "name": r.choice(p.names),
            "company": self.company(industry, region),
            "mobile": self.mobile() if r.random() < 0.9 else None,
            "email": f"{r.choice(p.usernames)}{r.randrange(100)}@{r.choice(p.domains)}"
            if r.random() < 0.5
            else None,
            "title": r.choice(p.jobs) if r.random() < 0.6 else None,
            "source": self._pick(SOURCES, SOURCE_WEIGHTS),
            "source_detail": r.choice(DETAILS) if r.random() < 0.15 else None,
            "industry": industry,
            "size": self._pick(SIZES, SIZE_WEIGHTS) if r.random() < 0.8 else None,
            "region": region,
            "level": self._pick(LEVELS, LEVEL_WEIGHTS) if r.random() < 0.8 else None,
            "stage": stage,
            "expected_value": self.money(stage),
            "interests": "、".join(r.sample(INTERESTS, r.randint(1, 3)))
            if r.random() < 0.2
            else None,
            "website": f"https://www.{r.choice(p.hosts)}.com.cn" if r.random() < 0.2 else None,
            "address": r.choice(p.addresses) if r.random() < 0.6 else None,
            "rating": r.randint(1, 5) if r.random() < 0.6 else None,
            "remarks": r.choice(p.remarks) if r.random() < 0.3 else None,
        }

    def owner(self) -> int:
        return self.owner_ids[
            bisect.bisect_right(self.cum_owner, self.rnd.random() * self.cum_owner[-1])
        ]

    def row(self, record_id: int, number: str, created_at: datetime) -> tuple[Any, ...]:
        r = self.rnd
        owner = self.owner()
        f = self.fields()
        updated = min(created_at + timedelta(seconds=r.randrange(0, 90 * 86400)), NOW)
        followup = (
            created_at + timedelta(days=r.randint(1, 60), hours=r.randint(0, 10))
            if r.random() < 0.4
            else None
        )
        system = {
            "id": record_id,
            "number": number,
            "owner_id": owner,
            "department_id": self.owner_dept[owner],
            "created_by": owner,
            "created_at": created_at,
            "updated_by": owner,
            "updated_at": updated,
            "version": 1,
            "locked": False,
            "deleted_at": None,  # live records (the recycle bin's marks, BIN-01)
            "deleted_by": None,
            "next_followup_at": followup,
        }
        f.update(system)
        return tuple(f[c] for c in CUSTOMER_COLUMNS)

    def created_times(self, count: int) -> list[datetime]:
        """`count` creation times over the last YEARS years, oldest first (ids follow time)."""
        span = YEARS * 365 * 86400
        start = NOW - timedelta(seconds=span)
        offsets = sorted(self.rnd.randrange(span) for _ in range(count))
        return [
            start + timedelta(seconds=s, microseconds=self.rnd.randrange(1_000_000))
            for s in offsets
        ]


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


# -- platform -----------------------------------------------------------------------------------


def make_platform(url: str) -> Any:
    from guanxi.core import Guanxi
    from guanxi.settings import Settings

    g = Guanxi.create(Settings.from_env(database_url=url, schema_dir=ROOT / "schemas"))
    g.start()
    return g


def owners(engine: Any) -> dict[int, int]:
    """{user id: department id} of the seeded sales reps."""
    import sqlalchemy as sa

    from guanxi.store.system_tables import user

    with engine.connect() as c:
        rows = c.execute(sa.select(user.c.id, user.c.department_id).where(user.c.active)).all()
    return {r.id: r.department_id for r in rows}


# -- measuring ----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pct(values: list[float], q: float) -> float:
    """Percentile (0-100) by linear interpolation; values in seconds -> ms."""
    data = sorted(values)
    if len(data) == 1:
        return data[0] * 1000
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return (data[lo] + (data[hi] - data[lo]) * (k - lo)) * 1000


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def mean_ms(values: list[float]) -> float:
    return statistics.fmean(values) * 1000


def environment(engine: Any) -> dict[str, str]:
    info = {
        "python": py_platform.python_version(),
        "sqlalchemy": __import__("sqlalchemy").__version__,
        "cpus": str(os.cpu_count()),
        "sqlite": sqlite3.sqlite_version,
    }
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            info["postgresql"] = c.exec_driver_sql("SHOW server_version").scalar()
        info["psycopg"] = __import__("psycopg").__version__
    return info


def say(*args: Any) -> None:
    print(*args, flush=True)
    sys.stdout.flush()
