"""Destination specs: what each form means, and what a request may not ask for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pagerunner.destinations import DestinationRefused, parse, redact


def test_the_forms_and_their_targets(tmp_path: Path) -> None:
    duck = parse("duckdb:///out/leads.duckdb", base_dir=tmp_path, confined=True)
    assert (duck.kind, duck.target, duck.dataset) == (
        "duckdb",
        str(tmp_path.resolve() / "out" / "leads.duckdb"),
        "pagerunner",
    )
    files = parse("parquet:///exports?dataset=leads", base_dir=tmp_path, confined=True)
    assert (files.kind, files.file_format, files.dataset) == ("files", "parquet", "leads")
    assert parse("jsonl:///x", base_dir=tmp_path, confined=True).file_format == "jsonl"
    named = parse("warehouse?format=parquet&dataset=raw", base_dir=None, confined=True)
    assert (named.kind, named.target, named.file_format, named.dataset) == (
        "named",
        "warehouse",
        "parquet",
        "raw",
    )
    pg = parse(
        "postgresql://loader@db.internal:5432/dwh?dataset=leads", base_dir=None, confined=False
    )
    assert (pg.kind, pg.target, pg.dataset) == (
        "postgres",
        "postgresql://loader@db.internal:5432/dwh",
        "leads",
    )
    assert parse("postgres://h/db", base_dir=None, confined=False).kind == "postgres"


def test_relative_paths_start_at_the_working_directory_without_confinement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = parse("duckdb:///leads.duckdb", base_dir=None, confined=False)
    assert spec.target == str(tmp_path.resolve() / "leads.duckdb")
    absolute = parse(f"duckdb:///{tmp_path}/abs.duckdb", base_dir=None, confined=False)
    assert absolute.target == str(tmp_path.resolve() / "abs.duckdb")


def test_the_key_names_the_data_not_the_spelling(tmp_path: Path) -> None:
    a = parse("duckdb:///x/../leads.duckdb", base_dir=tmp_path, confined=True)
    b = parse("duckdb:///leads.duckdb", base_dir=tmp_path, confined=True)
    c = parse("duckdb:///leads.duckdb?dataset=other", base_dir=tmp_path, confined=True)
    assert a.key == b.key != c.key


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("postgresql://loader:hunter2@db/dwh", "no password"),
        ("duckdb:///../outside.duckdb", "inside PAGERUNNER_DELIVERY_DIR"),
        ("duckdb:////etc/leads.duckdb", "inside PAGERUNNER_DELIVERY_DIR"),
        ("parquet:///a/../../b", "inside PAGERUNNER_DELIVERY_DIR"),
        ("postgresql://loader@db.internal/dwh", "DESTINATION__<NAME>__DESTINATION_TYPE"),
        ("duckdb://host/leads.duckdb", "three slashes"),
        ("duckdb:///", "give a path"),
        ("s3://bucket/x", "unknown kind"),
        ("dlt.destinations.postgres", "no dots"),
        ("os.system", "no dots"),
        ("warehouse?format=xml", "format"),
        ("warehouse?dataset=1x", "dataset"),
        ("warehouse?schema=x", "options"),
        ("duckdb:///x.duckdb?format=parquet", "options"),
        ("duckdb:///a b.duckdb", "no spaces"),
        ("", "give a destination"),
        ("x" * 501, "500"),
    ],
)
def test_a_request_may_not_ask_for(text: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(DestinationRefused, match=words.replace("$", r"\$")):
        parse(text, base_dir=tmp_path, confined=True)


def test_files_need_the_delivery_dir_in_a_request() -> None:
    with pytest.raises(DestinationRefused, match="PAGERUNNER_DELIVERY_DIR, which is not set"):
        parse("duckdb:///leads.duckdb", base_dir=None, confined=True)


def test_a_symlink_out_of_the_delivery_dir_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "out").symlink_to(tmp_path)
    with pytest.raises(DestinationRefused, match="inside"):
        parse("duckdb:///out/leads.duckdb", base_dir=base, confined=True)


def test_the_cli_refuses_a_password_too_and_names_dlts_variable() -> None:
    with pytest.raises(DestinationRefused, match="DESTINATION__POSTGRES__CREDENTIALS__PASSWORD"):
        parse("postgresql://u:pw@h/db", base_dir=None, confined=False)
    with pytest.raises(DestinationRefused, match="a host and a database"):
        parse("postgresql://h", base_dir=None, confined=False)


def test_redact() -> None:
    env = {
        "DESTINATION__WH__CREDENTIALS": "postgresql://a:very-secret@h/db",
        "MY_API_TOKEN": "tok-123456",
        "HOME": "/root",
    }
    text = (
        "failed postgresql://a:very-secret@h/db and postgresql://b:other@h2/db "
        "password=abc123 tok-123456 at /root"
    )
    out = redact(text, env)
    for secret in ("very-secret", "other", "abc123", "tok-123456"):
        assert secret not in out
    assert "/root" in out and "h2/db" in out
    assert redact("nothing here", dict(os.environ)) == "nothing here"
