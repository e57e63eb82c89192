"""Each benchmark still runs with its one command (in --quick mode; no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "name",
    [
        "client_overhead",
        "decode",
        "limiter_accuracy",
        "export_download",
        "export_stream",
        "bulk_import",
        "shared_budget",
    ],
)
def test_benchmark_runs_and_reports_its_baseline(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "TARGET" in out
    assert "RESULT" in out
    assert "python:" in out  # the machine details are printed with the numbers
