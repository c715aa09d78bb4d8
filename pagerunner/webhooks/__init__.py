"""Signed webhooks: a URL on a query or a combo, called when it completes, fails or pauses.

* `address`   which URLs and addresses may be called (http/https, public addresses only
              unless `PAGERUNNER_WEBHOOK_ALLOW_PRIVATE`), checked at creation and on the
              resolved address at send time.
* `signature` the `X-Pagerunner-Signature` header: `t=<unix>,v1=<hex HMAC-SHA256>`.
* `sender`    one attempt over HTTP: to the checked address, no redirects, a short timeout,
              a few KB of the answer read at most.
* `notifier`  the step bodies of execute-query that build a body and deliver it, recording
              every attempt (`queries.deliveries`).

Nothing here runs on its own: the durable steps in `functions` call the notifier, so a
delivery is retried by the engine with backoff and survives a restart (at least once).

WebhookError
├── WebhookRefused   the URL or the address it resolves to may not be called
└── DeliveryFailed   one attempt failed (transport error, timeout, non-2xx answer)
"""

from __future__ import annotations

from .address import WebhookError, WebhookRefused, check_url
from .notifier import WebhookNotifier
from .sender import DeliveryFailed, WebhookSender
from .signature import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryFailed",
    "WebhookError",
    "WebhookNotifier",
    "WebhookRefused",
    "WebhookSender",
    "check_url",
    "sign",
    "verify",
]
