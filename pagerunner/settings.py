"""Configuration: one `Settings` object, built once at start-up and passed down.

Every field can be set with a `PAGERUNNER_*` environment variable (or the CLI
flag of the same name); the database also reads `DATABASE_URL`, and the engine
reads the Inngest SDK's own `INNGEST_*` variables. Secrets are `SecretStr`, so
they never print. Source files name the variables of their own credentials;
`environment()` is the one place that hands the process environment on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SignedModeKeys", "signed_mode_keys", "webhook_secret_from_token"]


class SignedModeKeys(NamedTuple):
    """The Inngest keys the app and pagerunner's executor share in signed mode."""

    signing_key: str
    event_key: str


def signed_mode_keys(api_token: str) -> SignedModeKeys:
    """The signing key and event key of signed mode, derived from the API token.

    Derived rather than stored, so that an app and an executor in separate
    processes agree with nothing to set up but the same token; changing the
    token changes both keys. HMAC-SHA256 keeps the token unrecoverable from them.
    """

    def derive(purpose: bytes) -> str:
        return hmac.new(api_token.encode(), purpose, hashlib.sha256).hexdigest()

    return SignedModeKeys(
        signing_key=f"signkey-prod-{derive(b'pagerunner/signing-key')}",
        event_key=derive(b"pagerunner/event-key"),
    )


def webhook_secret_from_token(api_token: str) -> str:
    """The webhook signing secret when only the API token is set: HMAC-SHA256 of a purpose
    under the token, as `signed_mode_keys` derives its keys (the token stays unrecoverable)."""
    return hmac.new(api_token.encode(), b"pagerunner/webhook-secret", hashlib.sha256).hexdigest()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAGERUNNER_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    executor_port: int = Field(8288, ge=1, le=65535)
    db: str = Field("pagerunner.db", validation_alias=AliasChoices("PAGERUNNER_DB", "DATABASE_URL"))
    demo: bool = True
    demo_port: int = Field(8099, ge=1, le=65535)
    demo_api_key: SecretStr = SecretStr("demo-key")
    #: The demo source's limits for its credential (None: unlimited).
    demo_rate_per_s: float | None = Field(None, gt=0)
    demo_daily_budget: int | None = Field(None, ge=0)
    demo_monthly_budget: int | None = Field(None, ge=0)
    #: Overrides every source's delay between pages (seconds); None keeps each source's own.
    page_delay_s: float | None = Field(None, ge=0)
    #: A page delay up to this long is waited inside the next page step (a page is then
    #: one call, not a step and a durable sleep). None: 1 s when `serve` runs the executor
    #: in its process, where a call that waits holds none of its places; 0 with another
    #: engine, where it would (Inngest counts a waiting step against the concurrency).
    inline_delay_s: float | None = Field(None, ge=0, le=60)
    #: Rate-limit waits up to this long are slept through; longer ones pause the query.
    max_rate_limit_wait_s: float = Field(30.0, ge=0)
    #: A query paused by a rate limit whose reset time is known resumes itself after it.
    auto_resume: bool = True
    #: Seconds before a provider request times out (then it is retried).
    source_timeout_s: float = Field(10.0, gt=0)
    #: The project file whose `[sources.NAME]` tables define sources (skipped when missing).
    sources_file: Path = Path("pagerunner.toml")
    #: A folder of source files, one source per *.toml / *.yaml (skipped when missing).
    sources_dir: Path = Path("sources")
    #: Load the source presets shipped with pagerunner.
    source_presets: bool = True
    #: Aim file-defined sources at another origin, e.g. a simulator (JSON in the env var):
    #: {"serpapi-maps": "http://127.0.0.1:8099"}.
    source_origins: dict[str, str] = {}
    #: The page cap of a query that names none, on a source whose file sets none
    #: (`[pagination] max_pages`): a provider that never says "last page" stops there.
    default_max_pages: int = Field(1000, ge=1, le=100_000)
    #: No query fetches more pages than this, whatever its source or its request says;
    #: a query asking for more is refused (422 naming `max_pages`).
    max_pages_ceiling: int = Field(10_000, ge=1, le=100_000)
    #: A run of execute-query stores at most this many pages, then hands the query over to
    #: a new run that continues from the checkpoint. A page costs at most 4 steps, so a run
    #: takes at most 4 x this + 7 steps: 107 by default, far below Inngest's 1,000 per run;
    #: and every call re-sends, and the SDK replays, the run's memos (about 14 us each,
    #: bench/sdk_replay.py; a page with a slept delay is two). docs/queries.md says why 25.
    pages_per_run: int = Field(25, ge=1, le=200)
    #: CSV exports neutralise cells that a spreadsheet would run as a formula (OWASP).
    csv_protect_formulas: bool = True
    #: First retry delay of the embedded executor (doubling, capped at 60 s, with jitter).
    retry_base_s: float = Field(1.0, gt=0)
    app_id: str = "pagerunner"
    #: When set, the API and the web pages require it (Bearer header or the /login cookie).
    #: Required to bind beyond the loopback interface.
    api_token: SecretStr | None = None
    #: How long a browser sign-in (the session cookie set by /login) lasts.
    session_ttl_s: float = Field(12 * 3600, gt=0, le=90 * 86400)
    #: Mark cookies `Secure` although requests arrive over HTTP: set it behind a proxy that
    #: terminates TLS (cookies are `Secure` anyway when a request itself is HTTPS).
    secure_cookies: bool = False
    #: A pagerunner executor running in another process (`pagerunner executor`), e.g.
    #: http://127.0.0.1:8288; unset, `serve` runs one in its own process.
    executor_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: The app's address as the world sees it (e.g. https://pagerunner.example.com): the links
    #: in webhook bodies start with it. Unset: `app_origin`, http://<host>:<port>.
    public_url: str | None = Field(None, max_length=500, pattern=r"^https?://[^\s]+$")
    #: Signs webhook bodies (`X-Pagerunner-Signature`). Unset: derived from the API token
    #: (`webhook_secret_from_token`); neither set: webhooks are sent unsigned.
    webhook_secret: SecretStr | None = None
    #: Allow webhooks to loopback, private, link-local and other non-public addresses.
    webhook_allow_private: bool = False
    #: Seconds one webhook attempt may take, connecting included.
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    #: Where pagerunner keeps its working files: dlt's pipelines, in `<data_dir>/dlt`.
    data_dir: Path = Path(".pagerunner")
    #: Deliveries given in a request or a form may write DuckDB files and file destinations
    #: only below this folder; unset, they write no files (named destinations still work).
    delivery_dir: Path | None = None
    #: How many levels of nested fields dlt turns into child tables (dlt's
    #: `max_table_nesting`); deeper ones stay JSON. Unset: dlt's default; 0: no child tables.
    max_table_nesting: int | None = Field(None, ge=0, le=1000)
    #: Requests to the API and the pages: larger bodies are refused with 413.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    #: Any one text value in a request (a parameter, a form field, a JSON string): longer
    #: ones are refused with 422 naming the field.
    max_text_chars: int = Field(10_000, ge=100)

    # The Inngest SDK's variables select the engine (see `engine`).
    inngest_dev: str | None = Field(None, validation_alias="INNGEST_DEV")
    inngest_event_key: SecretStr | None = Field(None, validation_alias="INNGEST_EVENT_KEY")
    inngest_signing_key: SecretStr | None = Field(None, validation_alias="INNGEST_SIGNING_KEY")

    @property
    def engine(self) -> Literal["embedded", "inngest-dev", "inngest-cloud"]:
        """Embedded unless the environment points the SDK at a real Inngest."""
        if self.inngest_dev and self.inngest_dev.lower() not in ("0", "false"):
            return "inngest-dev"
        if self.inngest_event_key and self.inngest_signing_key:
            return "inngest-cloud"
        return "embedded"

    @property
    def embeds_executor(self) -> bool:
        """Whether `serve` runs the embedded executor in its own process."""
        return self.engine == "embedded" and not self.executor_url

    @property
    def page_delay_inline_s(self) -> float:
        """The longest page delay waited inside a page step (see `inline_delay_s`)."""
        if self.inline_delay_s is not None:
            return self.inline_delay_s
        return 1.0 if self.embeds_executor else 0.0

    @property
    def token(self) -> str | None:
        """The API token as plain text, or None when unset (or empty)."""
        if self.api_token is None:
            return None
        return self.api_token.get_secret_value() or None

    @property
    def signed_keys(self) -> SignedModeKeys | None:
        """With a token, pagerunner's app and executor sign their calls with these keys."""
        token = self.token
        return signed_mode_keys(token) if token and self.engine == "embedded" else None

    @property
    def binds_beyond_loopback(self) -> bool:
        """Whether the app's interface can be reached from other machines."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: assume it is reachable
            return True

    def check_exposure(self) -> None:
        """Refuse to serve the API beyond the loopback interface without a token."""
        if self.binds_beyond_loopback and self.token is None:
            raise ValueError(
                f"refusing to bind to {self.host} without an API token: anyone on the network "
                "could run and read queries. Set PAGERUNNER_API_TOKEN (e.g. "
                "`export PAGERUNNER_API_TOKEN=$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')`) or bind to 127.0.0.1"
            )
        if self.binds_beyond_loopback and self.engine == "inngest-dev":
            raise ValueError(
                f"refusing to bind to {self.host} with INNGEST_DEV: the Inngest dev server does "
                "not sign its calls, so anyone on the network could run the functions at "
                "/api/inngest. Use pagerunner's executor or Inngest Cloud, or bind to 127.0.0.1"
            )

    def environment(self) -> dict[str, str]:
        """The process environment: source files name their credentials' variables in it."""
        return dict(os.environ)

    @property
    def app_origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def public_origin(self) -> str:
        """Where links to the app's pages and API point from outside (webhook bodies)."""
        return self.public_url.rstrip("/") if self.public_url else self.app_origin

    @property
    def webhook_signing_secret(self) -> str | None:
        """The secret webhook signatures use: set, derived from the token, or None (unsigned)."""
        if self.webhook_secret is not None and self.webhook_secret.get_secret_value():
            return self.webhook_secret.get_secret_value()
        token = self.token
        return webhook_secret_from_token(token) if token else None

    @property
    def executor_origin(self) -> str:
        if self.executor_url:
            return self.executor_url.rstrip("/")
        return f"http://127.0.0.1:{self.executor_port}"

    @property
    def demo_origin(self) -> str:
        return f"http://127.0.0.1:{self.demo_port}"
