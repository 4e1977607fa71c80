"""A job worker process for the cross-process tests: the test plugin plus the core jobs,
looping for --seconds on the database named by GUANXI_DATABASE_URL / _SCHEMA."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from guanxi.core import Guanxi  # noqa: E402
from guanxi.jobs.worker import JobWorker  # noqa: E402
from guanxi.settings import Settings  # noqa: E402
from tests.jobs import jobs_plugin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    platform = Guanxi.create(
        Settings.from_env(), plugins=[("testjobs", jobs_plugin)], entry_points=False
    )
    platform.start(sync=False)
    print("ready", flush=True)
    JobWorker(platform, label=args.label, poll_seconds=0.1).run_forever(seconds=args.seconds)
    platform.close()


if __name__ == "__main__":
    main()
