"""Operations (OPS-03): /healthz and /readyz probes (health), request ids and access lines
(requests), structured logs (logs) and Prometheus /metrics (metrics). See docs/operations.md."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from guanxi.ops.logs import configure_logging, log_fields

__all__ = ["configure_logging", "log_fields", "ops_routes"]


def ops_routes() -> list[BaseRoute]:
    """Unauthenticated probes and the metrics page (which checks its own access)."""
    from guanxi.ops.health import healthz, readyz
    from guanxi.ops.metrics import metrics_endpoint

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
