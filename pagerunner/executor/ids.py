"""ULIDs: 26-character, time-sortable identifiers (Crockford base32).

A ULID packs 128 bits: a 48-bit Unix timestamp in milliseconds followed by 80 bits of
entropy. The text form is 26 Crockford base32 characters (the first one is at most ``7``), so
ids sort by creation time as plain strings.

``ulid_from_seed`` reproduces the ids the Inngest server derives from the
``x-inngest-event-id-seed`` header (protocol reference §2.2), so an SDK-retried send yields
the same event ids.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time

__all__ = ["is_ulid", "new_ulid", "ulid_from_seed", "ulid_timestamp_ms"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)}
_ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_SEED_MS_RE = re.compile(r"[0-9]{1,15}")

_LENGTH = 26
_TIME_CHARS = 10
_ENTROPY_BYTES = 10
_ENTROPY_BITS = 8 * _ENTROPY_BYTES
_MAX_MS = (1 << 48) - 1
_MAX_ENTROPY = (1 << _ENTROPY_BITS) - 1
_UINT32 = 1 << 32

_lock = threading.Lock()
_last_ms = -1
_last_entropy = 0


def _encode(ms: int, entropy: int) -> str:
    value = (ms << _ENTROPY_BITS) | entropy
    chars = []
    for _ in range(_LENGTH):
        chars.append(_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    """Return a fresh ULID for ``now_ms`` (default: the current time).

    Within one process, a call in the same millisecond as the previous call increments the
    previous entropy instead of drawing new random bits, so ids made in a burst stay ordered.

    Raises ``ValueError`` if ``now_ms`` is negative or does not fit in 48 bits.
    """
    global _last_ms, _last_entropy
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"ULID timestamp out of range: {ms}")
    with _lock:
        if ms == _last_ms and _last_entropy < _MAX_ENTROPY:
            entropy = _last_entropy + 1
        else:
            entropy = int.from_bytes(secrets.token_bytes(_ENTROPY_BYTES), "big")
        _last_ms = ms
        _last_entropy = entropy
    return _encode(ms, entropy)


def ulid_from_seed(seed_header: str, index: int) -> str | None:
    """Derive the ULID of the ``index``-th event from an ``x-inngest-event-id-seed`` value.

    The seed is ``"<unix_ms>,<base64 of 10 bytes>"``. The ULID time is the millis and the
    entropy is the 10 bytes, with ``index`` added (mod 2**32) to the big-endian uint32 formed by
    bytes 6-9. Returns ``None`` if the seed is not valid.
    """
    parts = seed_header.strip().split(",")
    if len(parts) != 2:
        return None
    ms_text, entropy_text = parts
    if not _SEED_MS_RE.fullmatch(ms_text):
        return None
    ms = int(ms_text)
    if ms > _MAX_MS:
        return None
    try:
        entropy = base64.b64decode(entropy_text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(entropy) != _ENTROPY_BYTES:
        return None
    counter = (int.from_bytes(entropy[6:], "big") + index) % _UINT32
    mixed = entropy[:6] + counter.to_bytes(4, "big")
    return _encode(ms, int.from_bytes(mixed, "big"))


def is_ulid(s: str) -> bool:
    """Whether ``s`` is a ULID: 26 Crockford base32 characters, the first at most ``7``.

    Letters are matched case-insensitively.
    """
    return _ULID_RE.fullmatch(s) is not None


def ulid_timestamp_ms(ulid: str) -> int:
    """Return the Unix time in milliseconds encoded in ``ulid``.

    Raises ``ValueError`` if ``ulid`` is not a ULID.
    """
    if not is_ulid(ulid):
        raise ValueError(f"not a ULID: {ulid!r}")
    ms = 0
    for ch in ulid[:_TIME_CHARS].upper():
        ms = (ms << 5) | _DECODE[ch]
    return ms
