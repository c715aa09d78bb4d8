"""Small helpers every benchmark uses: free ports, progress lines, quiet logs, percentiles."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Sequence

import structlog

__all__ = ["free_port", "pct", "progress", "quiet_logs"]


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
