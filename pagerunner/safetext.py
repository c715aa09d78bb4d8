"""Text and JSON that always render, whatever a database row or a provider holds.

Shared infrastructure (`edge` refuses such values in requests, and renders
answers with `json_text`):
lone surrogates cannot be encoded as UTF-8 and `NaN` is not JSON, so one such
value in a stored record or an old row would make every page or answer that
shows it fail. Here they become U+FFFD and `null`, and only on the rare
answer that needs it: the fast path is the plain encoder.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from markupsafe import Markup

__all__ = ["json_text", "scrub", "scrub_json", "scrub_rendered"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (encodable as UTF-8)."""
    return _SURROGATE.sub("\ufffd", text)


def scrub_json(value: Any) -> Any:
    """A copy of a JSON-like value with text scrubbed and non-finite numbers as None."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v) for v in value]
    return value


def json_text(value: Any, **options: Any) -> str:
    """`json.dumps` that never fails on stored values (lone surrogates, NaN, dates)."""
    options.setdefault("default", str)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        text = json.dumps(scrub_json(value), ensure_ascii=False, allow_nan=False, **options)
    return text


def scrub_rendered(value: Any) -> Any:
    """Jinja's `finalize`: what a template prints, scrubbed (markup stays markup)."""
    if isinstance(value, Markup):
        return Markup(scrub(value))
    if isinstance(value, str):
        return scrub(value)
    return value
