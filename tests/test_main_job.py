"""The README's main job runs exactly as written: the console script's demo against the emulator."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_main_job_command_runs_the_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- main-job -->\s*```(?:sh|bash|console)?\n(.+?)\n```", readme, re.S)
    assert match, "README.md must show the main-job command under a <!-- main-job --> marker"
    command = match.group(1).strip()
    assert command.endswith("qualtrics-async demo"), command
    # The install half of the command ran when this test environment was set up; run the job itself.
    script = Path(sys.executable).parent / "qualtrics-async"
    result = subprocess.run([str(script), "demo"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "surveys:" in out
    assert re.search(r"paged through 1000 contacts of POOL_\w+ in 10 pages", out), out
    assert "0 answered 429" in out
    exported = re.search(r"exported 12 of 12 surveys \([\d,]+ bytes\) to (\S+) ", out)
    assert exported, out
    files = sorted(Path(exported.group(1)).glob("SV_*.zip"))
    assert len(files) == 12
    assert all(zipfile.ZipFile(f).testzip() is None for f in files)
    assert re.search(r"streamed [1-9]\d* responses of SV_\w+ while downloading", out), out


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
            "--contacts",
            "50",
            "--exports",
            "2",
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
    assert len(list(tmp_path.glob("SV_*.zip"))) == 2
