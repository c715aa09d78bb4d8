from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerunner.executor.ids import is_ulid, new_ulid, ulid_from_seed, ulid_timestamp_ms

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _seed(ms: int, entropy: bytes) -> str:
    return f"{ms},{base64.b64encode(entropy).decode()}"


def test_new_ulid_shape() -> None:
    ulid = new_ulid()
    assert len(ulid) == 26
    assert set(ulid) <= set(CROCKFORD)
    assert ulid[0] in "01234567"
    assert is_ulid(ulid)


def test_new_ulid_encodes_time() -> None:
    assert new_ulid(1_700_000_000_000).startswith("01HF7YAT00")
    assert ulid_timestamp_ms(new_ulid(1_700_000_000_000)) == 1_700_000_000_000
    assert new_ulid(0).startswith("0000000000")
    assert new_ulid(2**48 - 1).startswith("7ZZZZZZZZZ")


def test_new_ulid_rejects_out_of_range_time() -> None:
    with pytest.raises(ValueError):
        new_ulid(-1)
    with pytest.raises(ValueError):
        new_ulid(2**48)


def test_sortable_by_time() -> None:
    times = [5, 1_000, 1_699_999_999_999, 1_700_000_000_000, 1_700_000_000_001, 2**47]
    ids = [new_ulid(ms) for ms in reversed(times)]
    assert sorted(ids) == list(reversed(ids))
    assert [ulid_timestamp_ms(i) for i in sorted(ids)] == times


def test_monotonic_within_same_millisecond() -> None:
    ids = [new_ulid(1_800_000_000_000) for _ in range(1_000)]
    assert len(set(ids)) == 1_000
    assert ids == sorted(ids)
    assert {ulid_timestamp_ms(i) for i in ids} == {1_800_000_000_000}


def test_default_now_ids_are_unique_and_ordered() -> None:
    ids = [new_ulid() for _ in range(500)]
    assert len(set(ids)) == 500
    assert ids == sorted(ids)


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_timestamp_roundtrip(ms: int) -> None:
    ulid = new_ulid(ms)
    assert is_ulid(ulid)
    assert ulid_timestamp_ms(ulid) == ms


def test_is_ulid() -> None:
    assert is_ulid("01HF7YAT00000G40R40M30E20A")
    assert is_ulid("01hf7yat00000g40r40m30e20a")  # Crockford decoding is case-insensitive
    assert not is_ulid("")
    assert not is_ulid("01HF7YAT00000G40R40M30E20")  # 25 chars
    assert not is_ulid("01HF7YAT00000G40R40M30E20AA")  # 27 chars
    assert not is_ulid("81HF7YAT00000G40R40M30E20A")  # > 128 bits
    for bad in "ILOU":
        assert not is_ulid("01HF7YAT00000G40R40M30E20" + bad)


def test_ulid_timestamp_ms_rejects_non_ulid() -> None:
    with pytest.raises(ValueError, match="not a ULID"):
        ulid_timestamp_ms("not-a-ulid")


def test_seed_known_vector() -> None:
    ms = 1_700_000_000_000
    entropy = bytes(range(10))  # 00 01 02 ... 09
    # index 1: bytes 6-9 (06 07 08 09) + 1 -> 06 07 08 0a
    mixed = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 0x0A])
    value = (ms << 80) | int.from_bytes(mixed, "big")
    by_hand = "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))
    assert by_hand == "01HF7YAT00000G40R40M30E20A"
    assert ulid_from_seed(_seed(ms, entropy), 1) == by_hand


def test_seed_determinism_and_index() -> None:
    seed = _seed(1_700_000_000_000, bytes(range(10)))
    assert ulid_from_seed(seed, 1) == ulid_from_seed(seed, 1)
    assert ulid_from_seed(seed, 1) == "01HF7YAT00000G40R40M30E20A"
    assert ulid_from_seed(seed, 2) == "01HF7YAT00000G40R40M30E20B"
    assert ulid_from_seed(seed, 1) != ulid_from_seed(seed, 2)
    one, two = ulid_from_seed(seed, 1), ulid_from_seed(seed, 2)
    assert one is not None and two is not None
    assert one < two
    assert ulid_timestamp_ms(one) == 1_700_000_000_000


def test_seed_counter_wraps_without_touching_other_bytes() -> None:
    seed = _seed(2**48 - 1, b"\xff" * 10)
    assert ulid_from_seed(seed, 0) == "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
    # ff..ff (bytes 6-9) + 1 wraps to 00000000; bytes 0-5 stay ff.
    assert ulid_from_seed(seed, 1) == "7ZZZZZZZZZZZZZZZZZZW000000"


def test_seed_from_sdk_format() -> None:
    # Exactly what inngest 0.5.19 `_seed()` produces: "{millis},{b64encode(token_bytes(10))}".
    from inngest._internal.client_lib import client

    seed = client._seed()
    ulid = ulid_from_seed(seed, 1)
    assert ulid is not None
    assert is_ulid(ulid)
    assert ulid_timestamp_ms(ulid) == int(seed.split(",")[0])


@pytest.mark.parametrize(
    "seed",
    [
        "",
        "1700000000000",
        "1700000000000,",
        ",AAECAwQFBgcICQ==",
        "1700000000000,AAECAwQFBgcICQ==,x",
        "abc,AAECAwQFBgcICQ==",
        "-1,AAECAwQFBgcICQ==",
        "+1,AAECAwQFBgcICQ==",
        "1.5,AAECAwQFBgcICQ==",
        "1_000,AAECAwQFBgcICQ==",
        f"{2**48},AAECAwQFBgcICQ==",
        "99999999999999999999,AAECAwQFBgcICQ==",
        "1700000000000,not base64!",
        "1700000000000,AAECAwQFBgcICQ",  # missing padding
        "1700000000000,AAECAwQFBgcI",  # 9 bytes
        "1700000000000,AAECAwQFBgcICQo=",  # 11 bytes
    ],
)
def test_invalid_seed_returns_none(seed: str) -> None:
    assert ulid_from_seed(seed, 1) is None
