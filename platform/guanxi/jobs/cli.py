"""`guanxi jobs` (list jobs and their last runs, run one now, show runs) and `guanxi worker`
(run jobs without serving HTTP; any number of them, on any machine sharing the database)."""

from __future__ import annotations

import argparse
import json
import signal
from typing import Any

from guanxi import clock


def _platform() -> Any:
    from guanxi.core import Guanxi

    platform = Guanxi.create()
    platform.start(sync=False)
    return platform


def _when(moment: Any) -> str:
    return clock.format_moment(moment, "en") if moment else "-"


def cmd_jobs(args: argparse.Namespace) -> int:
    platform = _platform()
    try:
        if args.jobs_command == "run":
            if args.name not in platform.jobs.specs:
                print(f"error: no job named {args.name!r}; see `guanxi jobs`")
                return 1
            payload = json.loads(args.payload) if args.payload else None
            task_id = platform.jobs.enqueue(args.name, payload)
            print(f"queued {args.name} as task {task_id}")
            if args.wait:
                for outcome in platform.jobs.run_due(worker="cli"):
                    print(
                        f"  {outcome.job} task {outcome.task_id}: {outcome.status}"
                        + (f" ({outcome.error})" if outcome.error else "")
                    )
            return 0
        if args.jobs_command == "runs":
            for run in platform.jobs.runs(args.name, limit=args.limit):
                print(
                    f"{run['id']:>6}  {run['job']:<28} task {run['task_id']:<6} "
                    f"try {run['attempt']}  {run['status']:<7} {_when(run['started_at'])}  "
                    f"{run['duration_ms'] if run['duration_ms'] is not None else '-':>6} ms  "
                    f"{run['worker']}  {run['error'] or ''}".rstrip()
                )
            return 0
        print(f"{'job':<28} {'plugin':<28} {'schedule':<20} {'waiting':>7} {'failed':>6}  last run")
        for job in platform.jobs.overview():
            last = job["last_run"]
            last_text = (
                f"{last['status']} {_when(last['started_at'])} ({last['worker']})"
                + (f": {last['error']}" if last["error"] else "")
                if last
                else "never"
            )
            print(
                f"{job['name']:<28} {job['plugin']:<28} {job['schedule']:<20} "
                f"{job['waiting']:>7} {job['failed']:>6}  {last_text}"
            )
        return 0
    finally:
        platform.close()


def cmd_worker(args: argparse.Namespace) -> int:
    from guanxi.jobs.worker import JobWorker

    platform = _platform()
    _configure_logging(platform)
    worker = JobWorker(platform, label=args.label or "", poll_seconds=args.poll)

    def stop(_signum: int, _frame: Any) -> None:
        worker.stopping.set()
        platform.jobs.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run_forever(once=args.once, seconds=args.seconds)
    finally:
        platform.close()
    return 0


def _configure_logging(platform: Any) -> None:
    try:
        from guanxi.ops import configure_logging
    except ImportError:
        import logging

        logging.basicConfig(level=logging.INFO)
        return
    configure_logging(platform.settings)


def add_job_commands(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="background jobs: list, run now, recent runs")
    jobs_commands = jobs.add_subparsers(dest="jobs_command")
    run = jobs_commands.add_parser("run", help="queue a job to run now")
    run.add_argument("name")
    run.add_argument("--payload", help="JSON object handed to the job")
    run.add_argument("--wait", action="store_true", help="run due jobs in this process too")
    runs = jobs_commands.add_parser("runs", help="recent runs (newest first)")
    runs.add_argument("name", nargs="?")
    runs.add_argument("--limit", type=int, default=30)
    jobs.set_defaults(run=cmd_jobs, jobs_command=None)
    worker = commands.add_parser("worker", help="run background jobs without serving HTTP")
    worker.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
    worker.add_argument("--seconds", type=float, help="stop after this many seconds")
    worker.add_argument("--poll", type=float, help="seconds between looks for due work")
    worker.add_argument("--label", help="added to the worker's name in the run log")
    worker.set_defaults(run=cmd_worker)
