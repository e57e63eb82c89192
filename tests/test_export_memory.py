"""D6: a 200 MB export is downloaded and streamed in constant memory (measured in a subprocess)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from qualtrics_async.testing import QualtricsEmulator

MB = 1 << 20

# Runs in a fresh interpreter, so the peak RSS it reports is the client's alone (the
# emulator, which holds the file, stays in the test process).
_SCRIPT = r"""
import asyncio, json, resource, sys
from qualtrics_async import QualtricsClient

async def main(base_url, survey_id, dest):
    async with QualtricsClient("emulator-token", base_url=base_url, env={}) as client:
        await client.whoami()  # warm up: imports, connection pool, first decode
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        job = await client.responses.start_export(survey_id, format="csv", compress=False)
        await job.wait()
        result = await job.download(dest)
        after_download = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        records = 0
        async for _ in client.responses.stream(survey_id, format="csv", compress=False):
            records += 1
        after_stream = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        zipped = 0
        async for _ in client.responses.stream(survey_id, format="csv"):  # the default: a ZIP, inflated on the fly
            zipped += 1
        after_zipped = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"size": result.size, "records": records, "zipped_records": zipped, "baseline_kb": baseline,
                      "download_kb": after_download, "stream_kb": after_stream, "zipped_kb": after_zipped}))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_D6_200_MB_export_keeps_memory_flat(tmp_path: Path) -> None:
    async with QualtricsEmulator(seed=5, rate_limits=None) as emulator:
        responses = 80_000
        survey_id = emulator.add_survey("Huge: 200 MB / memory test", responses=responses, answer_size=2500)
        dest = tmp_path / "huge.csv"
        process = await anyio.run_process(
            [sys.executable, "-c", _SCRIPT, emulator.base_url, survey_id, str(dest)], check=False
        )
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    report = json.loads(process.stdout)
    assert report["size"] >= 200 * MB, report
    assert dest.stat().st_size == report["size"]
    assert report["records"] == responses
    growth_download = (report["download_kb"] - report["baseline_kb"]) * 1024
    growth_stream = (report["stream_kb"] - report["baseline_kb"]) * 1024
    assert growth_download < 50 * MB, report
    assert growth_stream < 50 * MB, report
    assert report["zipped_records"] == responses
    assert (report["zipped_kb"] - report["baseline_kb"]) * 1024 < 50 * MB, report
