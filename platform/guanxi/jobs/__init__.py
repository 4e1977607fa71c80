"""Background jobs (OPS-02): plugins register periodic and queued jobs with `register_jobs`;
every web worker (unless GUANXI_JOBS_IN_WEB=0) and every `guanxi worker` process runs what is
due, and each due time runs exactly once across all of them (leases in the database).

A job is a dict from `register_jobs()`::

    {"name": "webhooks.deliver",        # unique; "<plugin>.<job>" by convention
     "run": deliver,                    # run(ctx: JobContext) -> JSON-able result or None
     "every": "daily", "at": "03:00",   # periodic: "minute" | "hourly" | "daily" | "weekly"
                                        # or seconds (int); "at" = local HH:MM for daily/weekly.
                                        # Without "every" the job only runs when enqueued.
     "retries": 3,                      # attempts after the first (default 3)
     "backoff": 30,                     # seconds before retry 1; doubles each time (max 6 h)
     "timeout": 300}                    # lease seconds: a worker silent this long is presumed dead

Queue a one-off run with ``platform.jobs.enqueue(name, payload, run_at=..., key=...,
connection=...)`` (pass the caller's connection to commit the task with the caller's write).
A run that raises is retried with backoff; ``raise RetryLater(seconds)`` picks the delay.
"""

from guanxi.jobs.runner import JobRunner, RunOutcome
from guanxi.jobs.spec import JobContext, JobSpec, RetryLater

__all__ = ["JobContext", "JobRunner", "JobSpec", "RetryLater", "RunOutcome"]
