"""The simulated provider API: a real HTTP search API for the demo, tests and benchmarks.

It stands in for a paid lead-generation / maps search provider: paginated,
deterministic results (`expected_records` says exactly what it returns),
API keys, per-key rate limits and quotas, and faults injected on demand
(5xx, slow, timeout, dropped connection, 429, quota, bad key, malformed JSON).

    sim = Simulator(SimulatorConfig(api_keys=("demo-key",)))
    async with serve_http(sim.app, host="127.0.0.1", port=8099):
        ...

It imports nothing else of pagerunner. See docs/simulator.md.
"""

from .answers import Answer
from .app import LimitsBody, create_simulator_app
from .faults import DEFAULT_DELAY_S, Fault, FaultKind, FaultVerdict
from .simulator import Simulator, SimulatorConfig
from .traffic import KeyLimits, SimulatorStats, max_in_window

__all__ = [
    "DEFAULT_DELAY_S",
    "Answer",
    "Fault",
    "FaultKind",
    "FaultVerdict",
    "KeyLimits",
    "LimitsBody",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "create_simulator_app",
    "max_in_window",
]
