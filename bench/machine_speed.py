"""How fast this machine runs Python right now: a fixed piece of work, timed in CPU ms.

The machines these benchmarks run on are shared: the same code has taken 12.9 ms of
CPU a paced page in one round and 6.8 in another a few minutes later. The work here
(build, encode, decode and sort records as JSON, the kind of work a page costs) never
changes, so its CPU time says how fast the machine ran beside a round's figures.

    uv run python bench/machine_speed.py               # one reading: the median of 5
    uv run python bench/machine_speed.py --every 1     # a reading a second until stopped

`common.MachineSpeed` runs it in a process of its own beside a round (its cost: the
work's few milliseconds a second, on one core).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence

RECORDS = 5000


def unit_ms() -> float:
    """CPU milliseconds of the fixed work."""
    started = time.process_time()
    records = [{"id": i, "name": f"place {i:05d}", "tags": ["a", "b"]} for i in range(RECORDS)]
    decoded = json.loads(json.dumps(records))
    ordered = sorted(decoded, key=lambda r: r["name"], reverse=True)
    _ = {r["name"]: len(r["tags"]) for r in ordered}
    return (time.process_time() - started) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--every", type=float, default=0, help="seconds between readings")
    args = parser.parse_args(argv)
    if not args.every:
        print(f"{statistics.median(unit_ms() for _ in range(5)):.3f}")
        return 0
    while True:  # until stopped
        print(f"{unit_ms():.3f}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
