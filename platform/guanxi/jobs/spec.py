"""What a job is: its registration (JobSpec, parsed from a register_jobs dict) and what a
run receives (JobContext)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guanxi.core import Guanxi


class RetryLater(Exception):
    """Raised by a run to be tried again after `seconds` (counts as an attempt)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class JobContext:
    platform: Guanxi
    job: str
    task_id: int
    payload: Mapping[str, Any]
    attempt: int  # 1 for the first run of this task
    max_attempts: int
    due_at: datetime  # when this run was due (UTC, naive)
    worker: str

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: Callable[[JobContext], Any] = field(repr=False)
    every_seconds: int | None = None  # None: runs only when enqueued
    at: time | None = None  # local time of day for daily / weekly jobs
    retries: int = 3
    backoff: float = 30.0
    timeout: int = 300
    plugin: str = ""

    @property
    def periodic(self) -> bool:
        return self.every_seconds is not None

    @property
    def max_attempts(self) -> int:
        return self.retries + 1
