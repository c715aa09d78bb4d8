"""Expressions: evaluation cost per event of pagerunner's evaluator against CEL libraries.

The executor evaluates an expression for every event that reaches a trigger with an `if`, a
flow-control key, a `cancelOn` or a `waitForEvent`. This compares the cost of one evaluation with
pagerunner's own evaluator (`pagerunner.executor.expressions`) and with the maintained CEL
implementations on PyPI, each used the way its documentation shows:

* `celpy` (cel-python, pure Python): `Environment().program(env.compile(src))`, evaluated on
  `celpy.json_to_cel(value)` for each variable;
* `cel` (common-expression-language, Rust bindings): `cel.compile(src).execute(variables)`;
* `cel_expr_python` (Google's C++ runtime): `NewEnv(variables=...).compile(src).eval(data=...)`.

Every expression is compiled once, outside the clock, as the executor compiles once per function
sync. The clock covers `evaluate(variables)` on N different events (the conversion of the event
into the library's values included: it happens for every event), repeated R times with the
garbage collector off; the figure is the median (and p95) over the R passes of pass time / N.
Each pass runs every engine in turn, and the ratio shown is the median over the passes of
library / pagerunner in the same pass, so that both sides of a ratio saw the same load. Each
case uses only standard CEL on data that is present, so that every engine can run it; the
results are checked against pagerunner's (a mismatch is shown as `!=`).

A second table runs the edges that pagerunner's expression tests pin (missing paths are null,
int/float compare by value, a key from a string and a number, ...) through every engine: a
library error is shown as `error`.

Libraries that are not installed are skipped; to run them all without adding them to the project:

    uv run --with cel-python --with common-expression-language --with cel-expr-python \\
        python bench/expressions.py [--events N] [--repeat R] [--filler F] [--json PATH]

It reports, it does not gate: it always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from common import pct, progress

from pagerunner.executor.errors import ExpressionError
from pagerunner.executor.expressions import compile_expression

Evaluate = Callable[[Mapping[str, Any]], Any]
Compiler = Callable[[str, tuple[str, ...]], Evaluate]

CASES: list[tuple[str, str]] = [
    ("trigger if", "event.data.plan == 'pro' && event.data.amount > 100"),
    ("concurrency key", "event.data.account + '-' + event.data.user.id"),
    ("waitForEvent if", "async.data.orderId == event.data.orderId"),
    ("exists macro", "event.data.items.exists(i, i.sku == 'sku-3')"),
    ("string method", "event.data.user.email.endsWith('@example.com')"),
    ("timestamp", "timestamp(event.data.createdAt) > timestamp('2025-06-01T00:00:00Z')"),
]

EDGES: list[str] = [
    "event.data.missing == null",
    "event.data.missing > 1",
    "null < 1",
    "1 == 1.0",
    "true == 1",
    "event.data.account + '-' + event.data.amount",
    "event.data.account + '-' + event.data.missing",
    "!event.data.missing",
    "event.data.plan && true",
    "1 / 0",
    "size(event.data.missing)",
    "event.data.items.size()",
]


def make_event(rng: random.Random, filler: int) -> dict[str, Any]:
    """An Inngest event envelope with a realistic `data`; `filler` extra unrelated fields."""
    n = rng.randrange(1, 6)
    data: dict[str, Any] = {
        "plan": rng.choice(["free", "pro", "team"]),
        "amount": rng.randrange(0, 500),
        "account": f"acct-{rng.randrange(1000)}",
        "orderId": f"order-{rng.randrange(10_000)}",
        "user": {
            "id": f"u{rng.randrange(10_000)}",
            "email": f"user{rng.randrange(100)}@{rng.choice(['example.com', 'mail.test'])}",
        },
        "items": [{"sku": f"sku-{rng.randrange(6)}", "qty": rng.randrange(1, 4)} for _ in range(n)],
        "createdAt": f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T10:00:00Z",
    }
    data.update({f"field{i}": f"value {i}" for i in range(filler)})
    return {"id": f"01J{rng.randrange(10**9)}", "name": "shop/order.created", "ts": 1, "data": data}


# --- engines ------------------------------------------------------------------------------


def pagerunner_engine(source: str, names: tuple[str, ...]) -> Evaluate:
    return compile_expression(source).evaluate


def celpy_engine() -> Compiler | None:
    try:
        import celpy
        from celpy import celtypes
    except ImportError:
        return None
    env = celpy.Environment()

    def to_python(value: Any) -> Any:
        if isinstance(value, celtypes.BoolType):
            return bool(value)
        if isinstance(value, celtypes.IntType | celtypes.UintType):
            return int(value)
        if isinstance(value, celtypes.DoubleType):
            return float(value)
        if isinstance(value, celtypes.StringType):
            return str(value)
        if isinstance(value, celtypes.ListType):
            return [to_python(v) for v in value]
        if isinstance(value, celtypes.MapType):
            return {to_python(k): to_python(v) for k, v in value.items()}
        if isinstance(value, Exception):
            raise value
        return value

    def compile_one(source: str, names: tuple[str, ...]) -> Evaluate:
        program = env.program(env.compile(source))

        def evaluate(variables: Mapping[str, Any]) -> Any:
            activation = {k: celpy.json_to_cel(v) for k, v in variables.items()}
            return to_python(program.evaluate(activation))

        return evaluate

    return compile_one


def rust_engine() -> Compiler | None:
    try:
        import cel
    except ImportError:
        return None

    def compile_one(source: str, names: tuple[str, ...]) -> Evaluate:
        program = cel.compile(source)
        return lambda variables: program.execute(dict(variables))

    return compile_one


def cpp_engine() -> Compiler | None:
    try:
        from cel_expr_python import cel
    except ImportError:
        return None

    def compile_one(source: str, names: tuple[str, ...]) -> Evaluate:
        env = cel.NewEnv(variables=dict.fromkeys(names, cel.Type.DYN))
        expression = env.compile(source)

        def evaluate(variables: Mapping[str, Any]) -> Any:
            value = expression.eval(data=dict(variables))
            if value.type() == cel.Type.ERROR:
                raise ValueError(value.value())
            return value.plain_value()

        return evaluate

    return compile_one


def engines() -> dict[str, Compiler]:
    found: dict[str, Compiler] = {"pagerunner": pagerunner_engine}
    for name, factory in (
        ("celpy", celpy_engine),
        ("cel (Rust)", rust_engine),
        ("cel_expr_python (C++)", cpp_engine),
    ):
        compiler = factory()
        if compiler is None:
            progress(f"{name}: not installed, skipped")
        else:
            found[name] = compiler
    return found


# --- measuring ----------------------------------------------------------------------------


def variables_for(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    waited = {"name": "shop/order.paid", "data": {"orderId": data["orderId"]}}
    return {"event": event, "async": waited}


def one_pass(evaluate: Evaluate, scopes: list[dict[str, Any]]) -> float:
    """Seconds per event for one pass over all the scopes."""
    start = time.perf_counter()
    for scope in scopes:
        evaluate(scope)
    return (time.perf_counter() - start) / len(scopes)


def time_interleaved(
    programs: dict[str, Evaluate], scopes: list[dict[str, Any]], repeat: int
) -> dict[str, list[float]]:
    """Per engine, the seconds per event of each pass. Every pass runs every engine in turn
    (celpy, which is slow, only in the first tenth of them), with the garbage collector off as
    timeit does, so that a ratio compares passes made under the same load."""
    passes: dict[str, list[float]] = {name: [] for name in programs}
    gc.collect()
    gc.disable()
    try:
        for index in range(repeat):
            for name, evaluate in programs.items():
                if name != "celpy" or index < max(3, repeat // 10):
                    passes[name].append(one_pass(evaluate, scopes))
    finally:
        gc.enable()
    return passes


def compile_all(
    source: str, found: dict[str, Compiler], scopes: list[dict[str, Any]], row: dict[str, Any]
) -> dict[str, Evaluate]:
    """The engines that compile and run `source`, checked against pagerunner's results."""
    expected: list[Any] | None = None
    with contextlib.suppress(ExpressionError):  # a version without the feature
        expected = [compile_expression(source).evaluate(s) for s in scopes]
    programs = {}
    for name, compiler in found.items():
        try:
            evaluate = compiler(source, ("event", "async"))
            results = [evaluate(s) for s in scopes]
        except Exception as exc:  # an engine may reject the case
            row["engines"][name] = {"error": f"{type(exc).__name__}: {exc}"[:120]}
            continue
        programs[name] = evaluate
        row["engines"][name] = {"agrees": expected is None or results == expected}
    return programs


def measure(args: argparse.Namespace, found: dict[str, Compiler]) -> list[dict[str, Any]]:
    rng = random.Random(7)
    scopes = [variables_for(make_event(rng, args.filler)) for _ in range(args.events)]
    rows = []
    for label, source in CASES:
        row: dict[str, Any] = {"case": label, "expression": source, "engines": {}}
        programs = compile_all(source, found, scopes, row)
        passes = time_interleaved(programs, scopes, args.repeat)
        base = passes.get("pagerunner")
        for name, times in passes.items():
            figure = row["engines"][name]
            figure["passes"] = len(times)
            figure["us_per_event_p50"] = statistics.median(times) * 1e6
            figure["us_per_event_p95"] = pct(times, 95) * 1e6
            if base and name != "pagerunner":  # pass by pass, then the median
                figure["ratio_p50"] = statistics.median(
                    t / b for t, b in zip(times, base, strict=False)
                )
            progress(f"{label}: {name} {figure['us_per_event_p50']:.1f} us/event")
        rows.append(row)
    return rows


def edges(found: dict[str, Compiler]) -> list[dict[str, Any]]:
    event = make_event(random.Random(1), 0)
    rows = []
    for source in EDGES:
        row: dict[str, Any] = {"expression": source, "engines": {}}
        for name, compiler in found.items():
            try:
                result: Any = compiler(source, ("event",))({"event": event})
            except Exception:
                result = "error"
            row["engines"][name] = result
        rows.append(row)
    return rows


# --- report -------------------------------------------------------------------------------


def print_costs(rows: list[dict[str, Any]], names: list[str]) -> None:
    print("\nEvaluation cost per event, microseconds (median over passes; ratio to pagerunner)")
    print(f"{'case':18}" + "".join(f"{name:>26}" for name in names))
    for row in rows:
        cells = []
        for name in names:
            figure = row["engines"].get(name, {})
            if "us_per_event_p50" not in figure:
                cells.append(f"{'n/a':>26}")
                continue
            us = figure["us_per_event_p50"]
            ratio = f" ({figure['ratio_p50']:.1f}x)" if "ratio_p50" in figure else ""
            mark = "" if figure["agrees"] else " !="
            cells.append(f"{f'{us:.1f}{ratio}{mark}':>26}")
        print(f"{row['case']:18}" + "".join(cells))


def print_edges(rows: list[dict[str, Any]], names: list[str]) -> None:
    print("\nEdges pinned by pagerunner's expression tests (a library error shown as 'error')")
    print(f"{'expression':46}" + "".join(f"{name[:20]:>22}" for name in names))
    for row in rows:
        shown = [row["engines"][n] for n in names]
        cells = "".join(f"{v if v == 'error' else json.dumps(v)[:20]:>22}" for v in shown)
        print(f"{row['expression']:46}{cells}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="different events per pass")
    parser.add_argument("--repeat", type=int, default=30, help="passes per case and engine")
    parser.add_argument("--filler", type=int, default=0, help="extra fields in each event's data")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    found = engines()
    names = list(found)
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "events": args.events,
        "repeat": args.repeat,
        "filler": args.filler,
        "costs": measure(args, found),
        "edges": edges(found),
    }
    print_costs(report["costs"], names)
    print_edges(report["edges"], names)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


if __name__ == "__main__":
    main()
