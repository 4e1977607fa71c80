"""The public pools and their rules, all in the plugin's settings (plugins.toml or
/admin/plugins): which regions each pool takes, after how many days without a follow-up or a
deal an owned customer returns, the advance warning, the claim limits and the reclaim delay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guanxi_sfa.settings import NAME

DEFAULT_POOLS = [
    {"code": "east", "name": {"zh-CN": "华东公海", "en": "East pool"}, "regions": ["east"],
     "followup_days": 30, "deal_days": 0},
    {"code": "general", "name": {"zh-CN": "公共公海", "en": "General pool"}, "regions": [],
     "followup_days": 30, "deal_days": 0},
]  # fmt: skip
LABEL = {
    "type": "object",
    "properties": {"zh-CN": {"type": "string"}, "en": {"type": "string"}},
    "required": ["zh-CN"],
}
POOL = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,49}$"},
        "name": LABEL,
        "regions": {"type": "array", "items": {"type": "string"}},
        "followup_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "deal_days": {"type": "integer", "minimum": 0, "maximum": 3650},
    },
    "required": ["code", "name"],
    "additionalProperties": False,
}
SETTINGS: dict[str, Any] = {
    "pools": {
        "type": "array", "items": POOL, "default": DEFAULT_POOLS,
        "title": "Public customer pools: regions each takes (empty: every other region), days "
                 "without a follow-up / a deal before an owned customer returns (0: never)",
    },
    "pool_warn_days": {
        "type": "integer", "minimum": 0, "maximum": 60, "default": 3,
        "title": "Days before a customer returns to the pool that its owner is warned",
    },
    "pool_reclaim_days": {
        "type": "integer", "minimum": 0, "maximum": 365, "default": 30,
        "title": "Days before the previous owner may claim a customer back",
    },
    "pool_claims_per_day": {
        "type": "integer", "minimum": 0, "maximum": 10000, "default": 10,
        "title": "Customers one person may claim from the pools per day",
    },
    "pool_max_owned": {
        "type": "integer", "minimum": 0, "maximum": 1000000, "default": 300,
        "title": "Customers one person may own before claiming more is refused (0: no limit)",
    },
    "pool_exempt_levels": {
        "type": "array", "items": {"type": "string"}, "default": ["S"],
        "title": "Customer grades never returned automatically (locked customers never are)",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Pool:
    code: str
    name: dict[str, str]
    regions: tuple[str, ...]
    followup_days: int
    deal_days: int

    def label(self, locale: str) -> str:
        return self.name.get(locale) or self.name.get("zh-CN") or self.code


@dataclass(frozen=True)
class PoolSettings:
    pools: tuple[Pool, ...]
    warn_days: int
    reclaim_days: int
    claims_per_day: int
    max_owned: int
    exempt_levels: tuple[str, ...]

    @classmethod
    def of(cls, platform: Any) -> PoolSettings:
        values = platform.plugin_settings(NAME)
        pools = tuple(
            Pool(
                code=str(p["code"]), name=dict(p["name"]), regions=tuple(p.get("regions") or ()),
                followup_days=int(p.get("followup_days", 30)), deal_days=int(p.get("deal_days", 0)),
            )
            for p in (values.get("pools") or DEFAULT_POOLS)
        )  # fmt: skip
        return cls(
            pools=pools,
            warn_days=int(values.get("pool_warn_days", 3)),
            reclaim_days=int(values.get("pool_reclaim_days", 30)),
            claims_per_day=int(values.get("pool_claims_per_day", 10)),
            max_owned=int(values.get("pool_max_owned", 300)),
            exempt_levels=tuple(values.get("pool_exempt_levels", ["S"])),
        )

    def get(self, code: str | None) -> Pool | None:
        return next((p for p in self.pools if p.code == code), None)

    def for_region(self, region: str | None) -> Pool | None:
        """The pool that takes a customer of `region`: the first naming it, else the first
        that names no region (the catch-all)."""
        named = next((p for p in self.pools if region and region in p.regions), None)
        return named or next((p for p in self.pools if not p.regions), None)

    def region_filter(self, pool: Pool) -> dict[str, Any] | None:
        """Customers this pool takes: its regions, or (catch-all) every region no other pool
        names, including none."""
        if pool.regions:
            return {"field": "region", "op": "in", "value": list(pool.regions)}
        claimed = sorted({r for p in self.pools if p is not pool for r in p.regions})
        if not claimed:
            return None
        return {"or": [{"field": "region", "op": "is_empty"},
                       {"not": {"field": "region", "op": "in", "value": claimed}}]}  # fmt: skip
