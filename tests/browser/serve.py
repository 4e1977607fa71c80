"""`guanxi serve` as a child process on a free loopback port: started, awaited and stopped the
same way by the browser tests' live_server fixture and by scripts/screenshots.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(
    env: dict[str, str], workdir: Path, log_name: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """One worker on 127.0.0.1:<free port>; its output goes to workdir/log_name (a file, not a
    pipe: a full pipe would stall the server). Returns (process, base URL, log path)."""
    port = free_port()
    log_path = workdir / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "guanxi.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}", log_path


def wait_until_up(
    process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float
) -> str | None:
    """None once this process listens and /healthz answers 200; else why not."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with code {process.returncode}"
        # Only trust /healthz once *this* uvicorn says it is bound: the port might otherwise
        # belong to a server another process started meanwhile.
        if "Uvicorn running on" in log_path.read_text(errors="replace"):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=5) as reply:
                    if reply.status == 200:
                        return None
                    last_error = f"/healthz answered {reply.status}"
            except (OSError, urllib.error.URLError) as error:
                last_error = f"/healthz: {error}"
        time.sleep(0.1)
    return f"no 200 from {url}/healthz within {timeout:.0f} s ({last_error})"


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate the server (kill it if it has not exited after 15 s)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
