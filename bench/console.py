"""The console's read side with N messages in the store (default 1,000,000): the trace of one
message and the searches the console offers, each as p50/p99 ms over ``--runs`` varied inputs
and as a ratio to a raw baseline measured in the same run (the bare primary-key SELECT of one
message row), against the goals (trace ≤ 5 ms, search ≤ 50 ms, at p99).

The store is seeded by ``console_seed`` through the hub's own migrations, so the real indexes
answer. SQLite: a file cached under ``--data-dir`` (``var/bench/``, git-ignored) keyed by N and
the seed's version, reused by later runs, which apply newer migrations to it (``--reseed``
makes it again). PostgreSQL: the database ``LGSP_BENCH_PG`` names
(seeded if empty, reused if it holds N messages; never dropped), else a scratch database on
``--pg-url``, created, seeded and dropped.

Each figure calls ``hub.trace`` as the API does (a connection from the hub's reader engine per
call, a page of 50). The cases run in turn, one input each per round, so the machine's noise
falls on all of them alike; ``--warmup`` untimed rounds come first. Inputs are drawn from the
store itself at random moments of its month: senders, services, recipients and document ids
as often as the traffic has them; statuses uniformly (a console user looks for the rare ones).
The message-id search is ``correlation_id`` = the id (a message's correlation id unless its
sender gave one): ``MessageFilters`` has no id of its own.

Run: ``.venv/bin/python bench/console.py`` (SQLite, 1M); ``--backend postgres``; ``--messages
2000 --runs 20`` for a quick look; ``--explain`` prints each search's query plan.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from console_seed import SEED_VERSION, seed_postgres, seed_sqlite
from harness import ROOT, console, pct, run_backends
from rich.table import Table
from sqlalchemy import Connection, Engine, Select, event, func, select, text

from hub import trace
from hub.admin.pages.home import figures
from hub.admin.web import page
from hub.config import Settings
from hub.context import Hub
from hub.model import Caller
from hub.store.db import as_utc, make_engine, reader, upgrade
from hub.store.tables import deliveries, messages

ADMIN = Caller("admin", "000.00.00.H49", "admin")
PAGE = 50
TRACE_GOAL_MS, SEARCH_GOAL_MS, OVERVIEW_GOAL_MS = 5.0, 50.0, 200.0
BASELINE = text("SELECT * FROM messages WHERE id = :id")
WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=30))


@dataclass
class Case:
    """One figure: ``run(conn, input)`` is timed once per input."""

    name: str
    goal_ms: float | None
    inputs: list[Any]
    run: Callable[[Connection, Any], Any]


@dataclass
class Figure:
    name: str
    goal_ms: float | None
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # what each call answered (rows on its page)

    def summary(self) -> dict[str, Any]:
        t = self.times_ms
        return {
            "name": self.name,
            "goal_ms": self.goal_ms,
            "runs": len(t),
            "p50_ms": pct(t, 50),
            "p99_ms": pct(t, 99),
            "max_ms": max(t),
            "mean_rows": statistics.fmean(self.rows) if self.rows else None,
            "empty": sum(1 for r in self.rows if r == 0),
        }


# --- inputs -------------------------------------------------------------------------------------
def id_floor(when: datetime) -> str:
    """The smallest UUIDv7 of a millisecond: ids at or after ``when`` sort at or above it."""
    return str(uuid.UUID(int=(int(when.timestamp() * 1000) << 80) | (0x7 << 76) | (2 << 62)))


@dataclass
class Sample:
    """Random moments of the store's month, and rows found at them."""

    first: datetime
    last: datetime
    messages: list[dict[str, Any]]  # traffic-weighted: each the first message at a moment
    recipients: list[str]
    document_ids: list[str]
    statuses: list[str]


def sample(conn: Connection, k: int, rng: random.Random) -> Sample:
    m, d = messages.c, deliveries.c
    first, last = (
        as_utc(t)
        for t in conn.execute(select(func.min(m.created_at), func.max(m.created_at))).one()
    )
    moments = [first + (last - first) * rng.random() for _ in range(k)]

    def at(query: Select, key: Any, when: datetime) -> Any:
        return conn.execute(query.where(key >= id_floor(when)).order_by(key).limit(1)).first()

    about = select(m.id, m.sender_system, m.sender_agency, m.service_code, m.created_at)
    rows = [at(about, m.id, t) for t in moments]  # there is one: the last is at or after t
    recipient = select(d.recipient).where(d.recipient.is_not(None))
    document = select(m.document_id).where(m.document_id.is_not(None))
    return Sample(
        first=first,
        last=last,
        messages=[{**r._mapping, "created_at": as_utc(r.created_at)} for r in rows],
        recipients=[r[0] for t in moments if (r := at(recipient, d.id, t))],
        document_ids=[r[0] for t in moments if (r := at(document, m.id, t))],
        statuses=sorted(conn.execute(select(m.status).distinct()).scalars()),
    )


# --- cases --------------------------------------------------------------------------------------
def _search(filters: Callable[[Any], trace.MessageFilters], cursor=lambda _: None):
    def run(conn: Connection, given: Any) -> int:
        page = trace.search(conn, ADMIN, filters(given), cursor(given), PAGE)
        return len(page["items"])

    return run


def _trace(conn: Connection, message_id: str) -> int:
    return len(trace.message(conn, message_id, ADMIN)["events"])


def _baseline(conn: Connection, message_id: str) -> int:
    return len(conn.execute(BASELINE, {"id": message_id}).all())


def cases(s: Sample, runs: int, rng: random.Random) -> list[Case]:
    """The figures of the read side, each with ``runs`` inputs."""

    def pick(values: list[Any]) -> list[Any]:
        return [rng.choice(values) for _ in range(runs)]

    def cycle(values: list[Any]) -> list[Any]:
        return [values[i % len(values)] for i in range(runs)]

    msgs, statuses = pick(s.messages), cycle(s.statuses)
    ids = [m["id"] for m in msgs]
    services = [m["service_code"] for m in pick(s.messages)]
    senders = [
        (m["sender_system"] if i % 2 else m["sender_agency"], m["created_at"], WINDOWS[i % 3])
        for i, m in enumerate(pick(s.messages))
    ]
    F = trace.MessageFilters
    return [
        Case("baseline: SELECT one message row by primary key", None, ids, _baseline),
        Case("trace: one message, deliveries and events", TRACE_GOAL_MS, ids, _trace),
        Case(
            "search: status, first page",
            SEARCH_GOAL_MS,
            statuses,
            _search(lambda st: F(status=st)),
        ),
        Case(
            "search: status, a page deep by cursor",
            SEARCH_GOAL_MS,
            list(zip(statuses, ids, strict=True)),
            _search(lambda g: F(status=g[0]), cursor=lambda g: g[1]),
        ),
        Case(
            "search: sender + time range (1, 7, 30 days)",
            SEARCH_GOAL_MS,
            senders,
            _search(lambda g: F(sender=g[0], since=g[1] - g[2], until=g[1])),
        ),
        Case("search: service", SEARCH_GOAL_MS, services, _search(lambda sv: F(service=sv))),
        Case(
            "search: service + status",
            SEARCH_GOAL_MS,
            list(zip(services, statuses, strict=True)),
            _search(lambda g: F(service=g[0], status=g[1])),
        ),
        Case(
            "search: recipient",
            SEARCH_GOAL_MS,
            pick(s.recipients),
            _search(lambda agency: F(recipient=agency)),
        ),
        Case(
            "search: document id",
            SEARCH_GOAL_MS,
            pick(s.document_ids),
            _search(lambda document_id: F(document_id=document_id)),
        ),
        Case(
            "search: message id (as correlation id)",
            SEARCH_GOAL_MS,
            ids,
            _search(lambda mid: F(correlation_id=mid)),
        ),
    ]


def overview_case(hub: Hub, now: datetime, runs: int) -> Case:
    """The console's overview page as the admin gets it: its grouped queries, the charts and
    the HTML, at the store's newest message (a cached store's real "last hour" is empty)."""

    def run(_conn: Connection, at: datetime) -> int:
        return len(page("overview.html", "vi", **figures(hub, "vi", at)))

    return Case("overview page: figures, charts, HTML", OVERVIEW_GOAL_MS, [now] * runs, run)


# --- measuring ----------------------------------------------------------------------------------
def measure(engine: Engine, todo: list[Case], warmup: int) -> list[Figure]:
    """Round robin: each case's i-th input in turn, so the machine's noise falls on all alike;
    the first ``warmup`` rounds are not timed."""
    figures = [Figure(c.name, c.goal_ms) for c in todo]
    for i in range(len(todo[0].inputs)):
        for case, figure in zip(todo, figures, strict=True):
            started = time.perf_counter()
            with engine.connect() as conn:
                answered = case.run(conn, case.inputs[i])
            if i >= warmup:
                figure.times_ms.append((time.perf_counter() - started) * 1000)
                figure.rows.append(answered)
    return figures


@contextlib.contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on ``engine`` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def explain(engine: Engine, todo: list[Case]) -> dict[str, list[str]]:
    """The plan of each search's statement (the first input), as the database chose it."""
    plans = {}
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for case in todo:
        if not case.name.startswith("search"):
            continue
        with captured(engine) as seen, engine.connect() as conn:
            case.run(conn, case.inputs[0])
        statement, parameters = [(s, p) for s, p in seen if "FROM messages" in s][-1]
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
        plans[case.name] = [" ".join(str(v) for v in r) for r in rows]
    return plans


# --- stores -------------------------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_store(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """The cached file for N, seeded first if missing; its seed time is kept beside it."""
    path = args.data_dir / f"console-v{SEED_VERSION}-{args.messages}.sqlite"
    about = path.with_suffix(".json")
    if args.reseed or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        seed_sqlite(path, args.messages, progress=console.print)
        seconds = time.monotonic() - started
        about.write_text(json.dumps({"seed_s": seconds, "seeded": datetime.now().isoformat()}))
    seeded = json.loads(about.read_text()) if about.exists() else {}
    yield f"sqlite:///{path}", {**seeded, "store": str(path), "bytes": path.stat().st_size}


@contextlib.contextmanager
def postgres_store(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """``LGSP_BENCH_PG`` (kept), else a scratch database (dropped at the end)."""
    given = os.environ.get("LGSP_BENCH_PG")
    if given:
        url, scratch = given, None
    else:
        scratch = f"lgsp_bench_console_{uuid.uuid4().hex[:8]}"
        url = f"{args.pg_url}/{scratch}"
        _pg_admin(args.pg_url, f'CREATE DATABASE "{scratch}"')
    try:
        held, shown = _pg_count(url), url.rsplit("@", 1)[-1]  # no password in what is shown
        info: dict[str, Any] = {"store": shown}
        if held == 0:
            started = time.monotonic()
            seed_postgres(url, args.messages, progress=console.print)
            info["seed_s"] = time.monotonic() - started
        elif held != args.messages:
            raise RuntimeError(f"{shown} holds {held} messages, not {args.messages}: empty it")
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        yield url, {**info, "bytes": size[0]}
    finally:
        if scratch:
            _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _pg_admin(server: str, sql: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _pg_count(url: str) -> int:
    """Messages in the database (0 when it has no schema yet)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('messages')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


STORES = {"sqlite": sqlite_store, "postgres": postgres_store}


# --- the run ------------------------------------------------------------------------------------
def bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with STORES[backend](args) as (url, info):
        engine = make_engine(url)
        console_hub = None
        try:
            upgrade(engine)  # a cached store gets the indexes of migrations newer than it
            read = reader(engine)
            rng = random.Random(args.seed)
            with read.connect() as conn:
                counts = {
                    t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED
                }
                found = sample(conn, 2 * (args.runs + args.warmup), rng)
            todo = cases(found, args.runs + args.warmup, rng)
            console_hub = Hub(Settings(database_url=url, data_dir=args.data_dir / "console-hub"))
            todo.append(overview_case(console_hub, found.last, args.runs + args.warmup))
            plans = explain(read, todo) if args.explain else {}
            figures = measure(read, todo, args.warmup)
        finally:
            if console_hub is not None:
                console_hub.close()
            engine.dispose()
    return {
        **info,
        "counts": counts,
        "span": [found.first.isoformat(), found.last.isoformat()],
        "figures": [f.summary() for f in figures],
        "plans": plans,
    }


COUNTED = ("messages", "deliveries", "message_events", "edocs")


def render(backend: str, res: dict[str, Any]) -> None:
    counts = res["counts"]
    table = Table(
        title=f"console read side — {backend}: {counts['messages']:,} messages, "
        f"{counts['deliveries']:,} deliveries, {counts['message_events']:,} events "
        f"({res['bytes'] / 1e9:.1f} GB)"
    )
    for col in ("figure", "p50 ms", "p99 ms", "p50 ÷ baseline", "rows/page", "goal p99", "met"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    base = res["figures"][0]["p50_ms"]
    for f in res["figures"]:
        goal = f["goal_ms"]
        met = (
            "" if goal is None else "[green]yes[/green]" if f["p99_ms"] <= goal else "[red]no[/red]"
        )
        rows = "" if f["mean_rows"] is None else f"{f['mean_rows']:.1f}"
        if f["empty"]:
            rows += f" ({f['empty']} empty)"
        table.add_row(
            f["name"],
            f"{f['p50_ms']:.2f}",
            f"{f['p99_ms']:.2f}",
            f"{f['p50_ms'] / base:.1f}×",
            rows,
            "" if goal is None else f"≤ {goal:.0f} ms",
            met,
        )
    seed = f"seeded in {res['seed_s']:.0f} s" if "seed_s" in res else "seed time unknown"
    table.caption = (
        f"{res['figures'][0]['runs']} runs per figure, pages of {PAGE}; {seed}; "
        f"store {res['store']}"
    )
    console.print(table)
    for name, plan in res["plans"].items():
        console.print(f"[bold]{name}[/bold]")
        for line in plan:
            console.print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--messages", type=int, default=1_000_000, help="N in the store")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per figure")
    parser.add_argument("--warmup", type=int, default=10, help="untimed rounds first")
    parser.add_argument("--seed", type=int, default=14, help="of the inputs' random choice")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--reseed", action="store_true", help="seed the SQLite file again")
    parser.add_argument("--explain", action="store_true", help="print each search's plan")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="server for the scratch database when LGSP_BENCH_PG is not set",
    )
    args = parser.parse_args(argv)
    return run_backends("console", args, lambda b: bench(b, args), render)


if __name__ == "__main__":
    sys.exit(main())
