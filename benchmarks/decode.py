"""List-page decoding: the client's typed msgspec decoder against stdlib ``json.loads``.

Run from the repository root::

    .venv/bin/python -m benchmarks.decode [--quick] [--strict]

Two realistic 100-element page envelopes, ``{"result": {"elements": [...], "nextPage":
"https://..."}, "meta": {...}}``, built from the emulator's seeded data and encoded the way
the emulator sends them:

* ``GET /directories/{directoryId}/contacts?includeEmbedded=true``, decoded into
  ``models.Contact``;
* ``GET /surveys``, decoded into ``models.SurveySummary`` (two ISO dates per element are
  parsed into ``datetime`` by msgspec; ``json.loads`` leaves them as strings).

Candidates: the project's cached ``page_decoder(Model)`` (typed), ``page_decoder(Any)``
(untyped msgspec, reference), stdlib ``json.loads`` into dicts (the baseline), and
``json.loads`` followed by ``msgspec.convert`` into the same types (reference: what typed
results cost when starting from the stdlib). Timing follows ``timeit``: each candidate is
run in batches sized by ``Timer.autorange``, the batches of all candidates are interleaved,
and the best (minimum) of the repetitions is reported, with the median for context.
``timeit`` switches the garbage collector off while timing, as usual.

Target: typed msgspec at least as fast as ``json.loads`` (ratio >= 1.0) on each page.
"""

from __future__ import annotations

import json
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/decode.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks._common import Options, Verdicts, finish, main_entry, median, print_header, table
from qualtrics_async._decoding import Envelope, ListResult, page_decoder
from qualtrics_async.models import Contact, SurveySummary
from qualtrics_async.testing._data import build_data, contact_element

TARGET_RATIO = 1.0
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Plan:
    repeats: int
    min_batch_seconds: float


FULL = Plan(repeats=9, min_batch_seconds=0.2)
QUICK = Plan(repeats=3, min_batch_seconds=0.04)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    model: type[msgspec.Struct]
    raw: bytes


def build_pages() -> list[Page]:
    """The two page bodies, with the emulator's data and the emulator's encoder (msgspec)."""
    data = build_data(7, surveys=PAGE_SIZE, contacts=PAGE_SIZE)
    directory_id = data.default_directory_id
    meta = {"httpStatus": "200 - OK", "requestId": "6f1e7a52-0c1b-4f4e-9a5e-2b8d1c3e4f50"}
    contacts = {
        "result": {
            "elements": [contact_element(c, include_embedded=True) for c in data.contacts[directory_id]],
            "nextPage": f"https://iad1.qualtrics.com/API/v3/directories/{directory_id}/contacts"
            "?includeEmbedded=true&skipToken=MTAwOjNmYTJjMGU5ZDFiNDc4YTA",
        },
        "meta": meta,
    }
    surveys = {
        "result": {
            "elements": data.surveys,
            "nextPage": "https://iad1.qualtrics.com/API/v3/surveys?offset=100",
        },
        "meta": meta,
    }
    return [
        Page("GET /directories/{id}/contacts?includeEmbedded=true -> Contact", Contact, msgspec.json.encode(contacts)),
        Page("GET /surveys -> SurveySummary", SurveySummary, msgspec.json.encode(surveys)),
    ]


def candidates(page: Page) -> dict[str, Callable[[], object]]:
    raw = page.raw
    typed = page_decoder(page.model)
    untyped = page_decoder(Any)
    target_type: Any = Envelope[ListResult[page.model]]  # type: ignore[name-defined]

    def typed_decode() -> object:
        return typed.decode(raw)

    def untyped_decode() -> object:
        return untyped.decode(raw)

    def stdlib() -> object:
        return json.loads(raw)

    def stdlib_then_convert() -> object:
        return msgspec.convert(json.loads(raw), type=target_type)

    return {
        "msgspec typed: page_decoder(Model)": typed_decode,
        "msgspec untyped: page_decoder(Any)": untyped_decode,
        "stdlib json.loads -> dicts (baseline)": stdlib,
        "json.loads + msgspec.convert(Model)": stdlib_then_convert,
    }


TYPED, UNTYPED, BASELINE, CONVERT = (
    "msgspec typed: page_decoder(Model)",
    "msgspec untyped: page_decoder(Any)",
    "stdlib json.loads -> dicts (baseline)",
    "json.loads + msgspec.convert(Model)",
)


def check(page: Page) -> None:
    """Every candidate sees the same page: 100 elements, the same first id, the same nextPage."""
    result = page_decoder(page.model).decode(page.raw).result
    assert isinstance(result, ListResult)
    plain = json.loads(page.raw)
    elements = plain["result"]["elements"]
    assert len(result.elements) == len(elements) == PAGE_SIZE
    assert all(isinstance(element, page.model) for element in result.elements)
    wire_id = elements[0].get("contactId", elements[0].get("id"))
    assert getattr(result.elements[0], "contact_id", getattr(result.elements[0], "id", None)) == wire_id
    assert result.nextPage == plain["result"]["nextPage"]


def measure(page: Page, plan: Plan) -> dict[str, list[float]]:
    """Per-page seconds for each candidate, one entry per repetition (interleaved)."""
    timers = {name: timeit.Timer(fn) for name, fn in candidates(page).items()}
    numbers: dict[str, int] = {}
    for name, timer in timers.items():
        # autorange: the smallest 1, 2, 5, 10, ... batch taking >= 0.2 s; scale it to the plan.
        number, seconds = timer.autorange()
        numbers[name] = max(1, round(number * plan.min_batch_seconds / max(seconds, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(plan.repeats):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(numbers[name]) / numbers[name])
    return samples


def run(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    pages = build_pages()
    print_header(
        "decode: one 100-element list page, typed msgspec vs stdlib json.loads",
        options,
        notes=(
            f"timeit-style: {plan.repeats} interleaved repetitions per candidate, each a batch of >= "
            f"{plan.min_batch_seconds:g} s; 'best' is the minimum per-page time, 'median' the median",
            "gc is off while timing (timeit's default); ratio = json.loads best / candidate best",
            *(f"page {p.name}: {len(p.raw):,} bytes" for p in pages),
        ),
    )
    verdicts = Verdicts()
    for page in pages:
        check(page)
        samples = measure(page, plan)
        baseline = min(samples[BASELINE])
        print()
        print(f"page: {page.name} ({PAGE_SIZE} elements, {len(page.raw):,} bytes)")
        rows = []
        for name, values in samples.items():
            best = min(values)
            rows.append(
                (
                    name,
                    f"{best * 1e6:,.1f}",
                    f"{median(values) * 1e6:,.1f}",
                    f"{len(page.raw) / best / 1e6:,.0f}",
                    f"{baseline / best:.2f}x",
                )
            )
        table(("decoder", "best us/page", "median us/page", "MB/s (best)", "vs json.loads"), rows)
        ratio = baseline / min(samples[TYPED])
        print(f"typed msgspec is {ratio:.2f}x faster than json.loads on this page (best of {plan.repeats})")
        verdicts.check(
            f"{page.name}: json.loads time / typed msgspec time = {ratio:.2f} (target >= {TARGET_RATIO:.1f})",
            ratio >= TARGET_RATIO,
        )
    return finish(verdicts, options)


if __name__ == "__main__":
    main_entry(run, "Per-page decode time of a 100-element list page: msgspec typed vs json.loads.")
