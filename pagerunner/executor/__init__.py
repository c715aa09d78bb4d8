"""pagerunner's embedded, Inngest-compatible executor.

It plays the role of the Inngest dev server for apps served with the Inngest
SDK: event intake (`/e/{key}`), app sync (`/fn/register`), the durable run loop
over the SDK's HTTP protocol, flow control, and a v1 REST API. It imports
nothing else of pagerunner and could ship as its own package.
"""

from .api import create_executor_app
from .backoff import Backoff
from .config import ExecutorConfig
from .engine import Executor
from .errors import ExecutorError
from .server import running_executor, serve_http

__all__ = [
    "Backoff",
    "Executor",
    "ExecutorConfig",
    "ExecutorError",
    "create_executor_app",
    "running_executor",
    "serve_http",
]
