"""The README's main job runs exactly as written: the console script's demo against the emulator."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _main_job_command() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- main-job -->\s*```(?:sh|bash|console)?\n(.+?)\n```", readme, re.S)
    assert match, "README.md must show the main-job command under a <!-- main-job --> marker"
    return match.group(1).strip()


def _check_demo_output(out: str) -> None:
    assert "surveys: 12 listed" in out
    assert re.search(r"paged through 1000 contacts of POOL_\w+ in 10 pages", out), out
    assert "0 answered 429" in out
    exported = re.search(r"exported 12 of 12 surveys \([\d,]+ bytes\) to (\S+) ", out)
    assert exported, out
    files = sorted(Path(exported.group(1)).glob("SV_*.zip"))
    assert len(files) == 12
    assert all(zipfile.ZipFile(f).testzip() is None for f in files)
    assert re.search(r"streamed [1-9]\d* responses of SV_\w+ while downloading", out), out
    assert len(re.findall(r"^SV_\w+\s+\d+\s+\d+\s+\d+ %", out, re.M)) == 12  # the per-survey summary
    assert re.search(r"imported 5,000 contacts from contacts.csv into POOL_\w+ .*: 4,998 added", out), out
    folder = Path(exported.group(1)).parent
    assert (folder / "contacts.csv.failures.csv").read_text().count("\n") == 3  # a header and the two failures


def test_readme_main_job_command_runs_exactly_as_written(tmp_path: Path) -> None:
    """The README's command, verbatim, in a copy of the project: a fresh venv, the install, the demo."""
    command = _main_job_command()
    assert command.endswith("qualtrics-async demo"), command
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout: the project's files cannot be listed")
    project = tmp_path / "project"
    for name in tracked.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_demo_output(result.stdout)


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:sh|bash|console)?\n(.+?)\n```", readme, re.S)
    assert match, "README.md must show the test command under a <!-- test-command --> marker"
    ci = (ROOT / ".ci" / "run").read_text()
    assert match.group(1).strip() in ci


def test_module_entry_point_runs_too(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "qualtrics_async",
            "demo",
            "--surveys",
            "2",
            "--contacts",
            "50",
            "--import-contacts",
            "30",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "paged through 50 contacts" in result.stdout
    assert len(list((tmp_path / "exports").glob("SV_*.zip"))) == 2
    assert "imported 30 contacts" in result.stdout
