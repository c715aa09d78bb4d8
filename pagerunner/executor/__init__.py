"""pagerunner's embedded, Inngest-compatible executor.

It plays the role of the Inngest dev server for apps served with the Inngest
SDK: event intake (`/e/{key}`), app sync (`/fn/register`), the durable run loop
over the SDK's HTTP protocol, flow control, a v1 REST API and a dashboard. Of
the rest of pagerunner it imports only the shared infrastructure modules
`pagerunner.sqlstore`, `pagerunner.guard`, `pagerunner.edge`, `pagerunner.probes`,
`pagerunner.cron`, `pagerunner.safetext` and `pagerunner.inplace`, so it could ship
as its own package together with them.
"""

from .api import create_executor_app
from .backoff import Backoff
from .config import ExecutorConfig, Limits
from .engine import Executor
from .errors import ExecutorError
from .server import running_executor, serve_http

__all__ = [
    "Backoff",
    "Executor",
    "ExecutorConfig",
    "ExecutorError",
    "Limits",
    "create_executor_app",
    "running_executor",
    "serve_http",
]
