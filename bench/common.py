"""Small helpers every benchmark uses: free ports, progress lines, quiet logs, percentiles,
the machine the figures come from (and its load), resident memory, and printing the figures
(and writing them as JSON)."""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

__all__ = [
    "MB",
    "MachineSpeed",
    "RssSampler",
    "distribution",
    "free_port",
    "load_average",
    "machine",
    "pct",
    "progress",
    "quiet_logs",
    "report",
    "rss_bytes",
    "verdict",
]

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def quiet_logs() -> None:
    """pagerunner, the SDK, uvicorn and httpx log warnings only (the figures are the output)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    for name in ("inngest", "uvicorn", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def pct(values: Sequence[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def distribution(
    values: Sequence[float], quantiles: Sequence[int] = (50, 95, 99), *, scale: float = 1.0
) -> dict[str, float]:
    """`n`, the percentiles (`p50`, ...), `max` and `mean` of `values`, each times `scale`
    (1000: seconds to ms); NaN when there are none."""
    return {
        "n": len(values),
        **{f"p{q}": pct(values, q) * scale for q in quantiles},
        "max": max(values, default=float("nan")) * scale,
        "mean": (statistics.fmean(values) if values else float("nan")) * scale,
    }


def machine(**extra: Any) -> dict[str, Any]:
    """Where the figures were taken: CPUs, Python, platform, date, and `extra` (the store...)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.date.today().isoformat(),
        **extra,
    }


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (empty where /proc has none)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of process `pid` (None: this process): psutil when installed, else
    `VmRSS` of /proc/<pid>/status."""
    try:
        import psutil
    except ImportError:
        status = Path(f"/proc/{pid if pid is not None else 'self'}/status")
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time (user + system) of process `pid`, or of its thread `thread` (a native
    thread id; the main thread's is `pid`), from /proc; NaN where there is no /proc."""
    path = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    try:
        fields = path.read_text().rpartition(")")[2].split()  # after "pid (comm)"
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """`rss_bytes(pid)` every `interval_s` in a background thread, from `with` to its end.

    A thread rather than an asyncio task, so a busy event loop (the process measuring itself)
    does not stretch the interval and hide a short peak."""

    def __init__(self, pid: int | None = None, interval_s: float = 0.25) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(rss_bytes(self.pid))
            if self._stop.wait(self.interval_s):
                return

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_bytes(self.pid))  # the reading at the end counts too


class MachineSpeed:
    """`machine_speed.py --every S` in a process of its own, from `with` to its end: the CPU
    ms of a fixed piece of work, read every S seconds while a round runs (how fast the
    shared machine ran beside the round's figures)."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.readings_ms: list[float] = []
        self._proc: subprocess.Popen[str] | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.readings_ms) if self.readings_ms else math.nan

    def __enter__(self) -> MachineSpeed:
        script = Path(__file__).with_name("machine_speed.py")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), "--every", str(self.every_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.terminate()
        out, _ = self._proc.communicate(timeout=10)
        self.readings_ms = [float(line) for line in out.split()]


def verdict(ok: bool) -> str:
    """How a target line ends."""
    return "PASS" if ok else "FAIL"


def report(text: str, figures: Mapping[str, Any], json_path: Path | None) -> None:
    """Print the rendered figures; with a path, write them there as JSON too."""
    print(text)
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {json_path}")
