"""`{param}` templates of a source file's request, and nothing else.

Only a declared parameter's name may stand between braces: no attribute or
index access, no format specs, no conversions (`str.format` would allow
`{p.__class__}`; these templates never call it). `{{` and `}}` are literal
braces. A value that is exactly one placeholder keeps its parameter's type
(a number stays a number in a JSON body); an optional parameter that has no
value drops the header, query or body entry it stands alone in (also inside a
list: `["{title}"]` without a title drops the entry rather than sending `[]`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

__all__ = ["MISSING", "TemplateError", "render_text", "render_value", "template_names"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class TemplateError(ValueError):
    """The text is not a valid `{param}` template."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What `render_value` returns for an entry to leave out (its parameter has no value).
MISSING: Final = _Missing()


def template_names(text: str) -> set[str]:
    """The parameter names `text` refers to; raise TemplateError when it is malformed."""
    names: set[str] = set()
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        inner = match.group(1)
        if inner is None:
            raise TemplateError(
                f"unbalanced '{token}' in {text!r} (write {{{{ or }}}} for a literal brace)"
            )
        if not _NAME.match(inner):
            raise TemplateError(
                f"'{{{inner}}}' in {text!r}: only {{name}} of a declared parameter is allowed "
                "(no attributes, indexes or format specs)"
            )
        names.add(inner)
    return names


def render_text(text: str, params: Mapping[str, Any], *, url_path: bool = False) -> str:
    """Substitute every placeholder; a missing or None parameter becomes ''.

    With `url_path`, values are percent-encoded so that they cannot add path
    segments, a query string or a fragment.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        text_value = _as_text(params.get(match.group(1)))
        return quote(text_value, safe="") if url_path else text_value

    return _TOKEN.sub(replace, text)


def render_value(value: Any, params: Mapping[str, Any]) -> Any:
    """Render strings inside `value` (recursively through lists and objects).

    A string that is exactly `{name}` becomes the parameter's value itself, or
    `MISSING` when it has none (the caller drops that entry).
    """
    if isinstance(value, str):
        match = _TOKEN.fullmatch(value)
        if match is not None and match.group(1) is not None:
            found = params.get(match.group(1))
            return MISSING if found is None else found
        return render_text(value, params)
    if isinstance(value, Mapping):
        rendered = {k: render_value(v, params) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not MISSING}
    if isinstance(value, list):
        items = [render_value(item, params) for item in value]
        kept = [v for v in items if v is not MISSING]
        # A list made only of missing parameters is left out, like a lone missing one.
        return MISSING if items and not kept else kept
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
