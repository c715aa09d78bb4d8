"""`pagerunner serve` as a subprocess for the benchmarks that measure it from outside.

Shared by bench/api_latency.py and bench/serve_memory.py: free ports, a clean
environment, start, wait until /healthz answers, and stop (terminate, then kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from common import free_port

T = TypeVar("T")

__all__ = ["Server", "measure_serve", "running_serve", "stop", "wait_ready"]

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    executor_url: str  # the executor's REST API and dashboard, in serve or apart
    tmp: Path
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def serve_env(tmp: Path, port: int, page_delay_s: float) -> dict[str, str]:
    """This environment without pagerunner/Inngest settings, plus the benchmark's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAGERUNNER_", "INNGEST_")) and k != "DATABASE_URL"
    }
    env.update(
        PAGERUNNER_HOST="127.0.0.1",
        PAGERUNNER_PORT=str(port),
        PAGERUNNER_EXECUTOR_PORT=str(free_port()),
        PAGERUNNER_DEMO_PORT=str(free_port()),
        PAGERUNNER_DB=str(tmp / "pagerunner.db"),
        PAGERUNNER_PAGE_DELAY_S=str(page_delay_s),
        PAGERUNNER_LOG_LEVEL="warning",
    )
    return env


@contextlib.contextmanager
def running_serve(
    tmp: Path,
    page_delay_s: float,
    *,
    pages_per_run: int | None = None,
    simulator_apart: bool = False,
    executor_apart: bool = False,
) -> Iterator[Server]:
    """`python -m pagerunner serve` in `tmp`; terminated (then killed) on the way out.
    `pages_per_run` sets PAGERUNNER_PAGES_PER_RUN (else serve's default).
    With `simulator_apart` the simulated provider runs in a process of its own
    (`pagerunner demo-api`, as a real provider is not in serve's process); with
    `executor_apart` the executor does (`pagerunner executor`, its own SQLite file,
    started first), and serve uses it through PAGERUNNER_EXECUTOR_URL."""
    port = free_port()
    env = serve_env(tmp, port, page_delay_s)
    if pages_per_run is not None:
        env["PAGERUNNER_PAGES_PER_RUN"] = str(pages_per_run)
    executor_port = env["PAGERUNNER_EXECUTOR_PORT"]
    executor_url = f"http://127.0.0.1:{executor_port}"
    with contextlib.ExitStack() as stack:
        if executor_apart:
            env["PAGERUNNER_EXECUTOR_URL"] = executor_url
            executor = ["executor", "--port", executor_port, "--db", str(tmp / "executor.db")]
            executor += ["-u", f"http://127.0.0.1:{port}/api/inngest", "--log-level", "warning"]
            stack.callback(stop, start(executor, env, tmp / "executor.log", tmp))
        if simulator_apart:
            env["PAGERUNNER_DEMO"] = "false"  # the demo source still asks PAGERUNNER_DEMO_PORT
            demo = ["demo-api", "--port", env["PAGERUNNER_DEMO_PORT"]]
            stack.callback(stop, start(demo, env, tmp / "demo-api.log", tmp))
        log_path = tmp / "serve.log"
        proc = start(["serve"], env, log_path, tmp)
        stack.callback(stop, proc)
        yield Server(proc, f"http://127.0.0.1:{port}", executor_url, tmp, log_path)


def measure_serve(
    measure: Callable[[Server], Coroutine[Any, Any, T]], page_delay_s: float, **options: Any
) -> T | None:
    """`measure(server)` against a fresh serve (`running_serve` with `options`) in a
    temporary directory. A failure prints itself and serve's last log lines, and gives None."""
    with (
        tempfile.TemporaryDirectory(prefix="pagerunner-bench-") as tmp,
        running_serve(Path(tmp), page_delay_s, **options) as server,
    ):
        try:
            return asyncio.run(measure(server))
        except Exception as exc:
            print(f"benchmark failed: {exc!r}\nlast lines of serve's log:\n{server.log_tail()}")
            return None


def start(
    command: list[str], env: Mapping[str, str], log_path: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """`python -m pagerunner <command>`, its output in `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pagerunner", *command],
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_ready(server: Server, client: httpx.AsyncClient) -> float:
    """Poll /healthz until it answers; returns the seconds it took."""
    started = time.perf_counter()
    deadline = started + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"serve exited with {server.proc.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise RuntimeError(f"serve did not answer within {READY_TIMEOUT_S:.0f}s:\n{server.log_tail()}")
