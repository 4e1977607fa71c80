"""JobWorker: the loop that runs due jobs - a daemon thread inside each web worker, or the
whole of a `guanxi worker` process. It polls every few seconds and wakes at once when this
process queues a task."""

from __future__ import annotations

import logging
import threading
import time as timer
from typing import TYPE_CHECKING

from guanxi.jobs.runner import JobRunner, worker_name

if TYPE_CHECKING:
    from guanxi.core import Guanxi

log = logging.getLogger("guanxi.jobs")
BATCH = 20  # tasks per pass before the loop looks at the stop flag and the schedule again
SETTLE = 0.05  # after a local enqueue: let the enqueuing transaction commit first


class JobWorker:
    def __init__(
        self, platform: Guanxi, *, label: str = "", poll_seconds: float | None = None
    ) -> None:
        self.runner: JobRunner = platform.jobs
        self.name = worker_name(label)
        self.poll = poll_seconds if poll_seconds is not None else platform.settings.job_poll_seconds
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_pass(self) -> int:
        """One pass over what is due; returns how many tasks ran. Database trouble (a
        restart, a lock timeout) is logged and retried on the next pass."""
        ran = 0
        try:
            while not self.stopping.is_set():
                outcomes = self.runner.run_due(worker=self.name, limit=BATCH)
                ran += len(outcomes)
                if len(outcomes) < BATCH:
                    break
        except Exception:
            log.exception("job worker %s: pass failed; trying again shortly", self.name)
        return ran

    def run_forever(self, *, once: bool = False, seconds: float | None = None) -> None:
        deadline = timer.monotonic() + seconds if seconds is not None else None
        log.info("job worker %s started (%d jobs)", self.name, len(self.runner.specs))
        while not self.stopping.is_set():
            self.run_pass()
            if once or (deadline is not None and timer.monotonic() >= deadline):
                break
            wait = self.poll
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - timer.monotonic()))
            if self.runner.wake.wait(wait):
                self.runner.wake.clear()
                timer.sleep(SETTLE)
        log.info("job worker %s stopped", self.name)

    def start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self.run_forever, name=f"guanxi-jobs-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.runner.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
