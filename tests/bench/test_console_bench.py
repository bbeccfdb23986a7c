"""``bench/console.py`` at a tiny store: it seeds a SQLite file through the hub's migrations,
caches it, and prints every figure of the console's read side with its percentiles. Speed is
never asserted; that every search is run, and answers, is."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    "baseline: SELECT one message row by primary key",
    "trace: one message, deliveries and events",
    "search: status, first page",
    "search: status, a page deep by cursor",
    "search: sender + time range (1, 7, 30 days)",
    "search: service",
    "search: service + status",
    "search: recipient",
    "search: document id",
    "search: message id (as correlation id)",
    "overview page: figures, charts, HTML",
]


def bench(data_dir: Path) -> tuple[subprocess.CompletedProcess, dict]:
    argv = ["--messages", "2000", "--runs", "12", "--warmup", "2", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [sys.executable, "bench/console.py", *argv, "--explain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = ROOT / re.search(r"JSON: (\S+)", done.stdout).group(1)
    report = json.loads(written.read_text())
    written.unlink()
    return done, report["backends"]["sqlite"]


def test_console_bench_prints_every_figure_and_reuses_its_store(tmp_path):
    done, result = bench(tmp_path)
    assert result["counts"]["messages"] == 2000
    assert result["counts"]["message_events"] > 5 * 2000
    assert "seed_s" in result
    for name in FIGURES:
        assert name in done.stdout
    figures = {f["name"]: f for f in result["figures"]}
    assert list(figures) == FIGURES
    for name, figure in figures.items():
        assert figure["runs"] == 12, name
        assert 0 < figure["p50_ms"] <= figure["p99_ms"], name
    assert figures[FIGURES[0]]["mean_rows"] == 1  # the baseline found each sampled message
    assert figures[FIGURES[1]]["mean_rows"] >= 5  # traces have their events
    for name in FIGURES[2:]:
        assert figures[name]["mean_rows"] > 0, f"{name} found nothing on every run"
    assert set(result["plans"]) == {name for name in FIGURES if name.startswith("search")}

    again, reused = bench(tmp_path)  # the cached file, not a new seed
    assert "messages seeded" in done.stdout and "messages seeded" not in again.stdout
    assert (reused["store"], reused["seed_s"]) == (result["store"], result["seed_s"])
