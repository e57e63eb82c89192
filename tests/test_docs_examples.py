"""Every ```python block of docs/*.md and README.md runs, as written, against the bundled emulator.

How a block runs:

* It is compiled with top-level ``await`` allowed and evaluated in a namespace holding what
  the prose introduces: ``client`` (an open ``QualtricsClient`` on the emulator, both on
  the published rate-limit table run ten times faster, see ``DOCS_LIMITS``),
  ``emulator``, ``survey_id`` / ``survey_ids``, ``directory_id`` and, for blocks that name
  it, ``redis_url``; the working directory is a fresh temporary one. The environment points
  at the emulator (``QUALTRICS_API_TOKEN``, ``QUALTRICS_BASE_URL``, ``QUALTRICS_CLIENT_ID``,
  ``QUALTRICS_CLIENT_SECRET``), so a block that builds ``QualtricsClient()`` itself runs verbatim.
* A block that calls ``asyncio.run(...)`` runs in a worker thread (it needs a thread without
  a running loop); the emulator keeps serving from the test's loop meanwhile.
* Each ``test_*`` function a block defines is then called, its arguments taken from the
  namespace or, failing that, from pytest's fixtures (``qualtrics_emulator`` is the real plugin's).
* A block preceded by ``<!-- continues -->`` runs after the block before it on the same
  page, in the same namespace.

What is checked: the block raises nothing; the emulator answered no 429 (the client paces
every example under the published limits); and every ``<!-- prints: TEXT -->`` comment
right after the block's closing fence names text the block printed (``{survey_id}``,
``{survey_name}`` and ``{directory_id}`` are filled in). A block that prints must have one.

README blocks marked ``<!-- example: NAME -->`` are run by tests/test_readme_examples.py and
skipped here; blocks marked ``<!-- not-run: reason -->`` are not run, and at most
``MAX_NOT_RUN`` may exist. ``mkdocs build --strict`` must pass too.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from qualtrics_async import RateLimits
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MAX_NOT_RUN = 2
"""The most blocks that may be marked ``<!-- not-run: reason -->`` (docs and README together)."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>example|not-run|continues)\b:?\s*(?P<value>.*?)\s*-->\s*$")
_PRINTS = re.compile(r"^\s*<!--\s*prints:\s?(?P<text>.*?)\s*-->\s*$")
_PYTHONISH = {"py", "py3", "python3", "pycon", "ipython", "pyi"}
"""Fence languages that would slip a Python example past this test: write ```python instead."""


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, its code, its marker and its expected output."""

    file: str
    line: int
    code: str
    marker: str | None = None
    """``example``, ``not-run`` or ``continues`` (from the comment right before the fence)."""
    marker_value: str = ""
    prints: tuple[str, ...] = ()
    previous: Block | None = None
    """The block before this one on the same page (for ``continues``)."""

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    def chain(self) -> list[Block]:
        """The blocks to run, in order: the ones this block continues, then itself."""
        if self.marker == "continues":
            assert self.previous is not None, f"{self.id}: <!-- continues --> on the first block of its page"
            return [*self.previous.chain(), self]
        return [self]


def _previous_nonblank(lines: list[str], index: int) -> str:
    for line in reversed(lines[:index]):
        if line.strip():
            return line
    return ""


def parse_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """Every ```python block of a markdown file, named by its path relative to ``root``."""
    rel = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks, lang = opening["indent"], opening["ticks"], opening["lang"].lower()
        assert lang not in _PYTHONISH, f"{rel}:{i + 1}: write ```python, not ```{lang}, so the example is run"
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        assert end < len(lines), f"{rel}:{i + 1}: the code fence is never closed"
        if lang == "python":
            body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : end]]
            marker = _MARKER.match(_previous_nonblank(lines, i))
            prints: list[str] = []
            after = end + 1
            while after < len(lines) and (lines[after].strip() == "" or _PRINTS.match(lines[after])):
                found = _PRINTS.match(lines[after])
                if found:
                    prints.append(found["text"])
                elif prints:
                    break
                after += 1
            blocks.append(
                Block(
                    file=rel,
                    line=i + 1,
                    code="\n".join(body) + "\n",
                    marker=marker["kind"] if marker else None,
                    marker_value=marker["value"] if marker else "",
                    prints=tuple(prints),
                    previous=blocks[-1] if blocks else None,
                )
            )
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    pages = sorted(DOCS.glob("*.md"))
    return [block for path in [README, *pages] for block in parse_blocks(path)]


BLOCKS = all_blocks()
RUN = [block for block in BLOCKS if block.marker not in ("example", "not-run")]


def _params() -> Iterator[Any]:
    for block in RUN:
        needs_redis = any("redis_url" in part.code or "RedisServer(" in part.code for part in block.chain())
        yield pytest.param(block, id=block.id, marks=[pytest.mark.redis] if needs_redis else [])


# -- running one block ---------------------------------------------------------------------------


def _compile(block: Block) -> Any:
    return compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _defined_functions(tree: ast.Module) -> list[str]:
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def _calls_asyncio_run(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "asyncio"
        for node in ast.walk(tree)
    )


def _unused_functions(tree: ast.Module) -> list[str]:
    """Top-level functions the block defines but never runs (not called, not decorated, not a test)."""
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.decorator_list
        and not node.name.startswith("test_")
        and node.name not in loaded
    ]


async def _run_block(block: Block, namespace: dict[str, Any], request: pytest.FixtureRequest) -> None:
    tree = ast.parse(block.code, block.id)
    assert not _unused_functions(tree), (
        f"{block.id} defines {_unused_functions(tree)} but never runs them: call them in the block "
        "(or name a pytest-style function test_*)"
    )
    code = _compile(block)
    if _calls_asyncio_run(tree):
        result = await anyio.to_thread.run_sync(eval, code, namespace)
        assert result is None, f"{block.id} calls asyncio.run() and also awaits at top level: choose one"
    else:
        result = eval(code, namespace)  # the point of the test: run the documented code
        if inspect.isawaitable(result):
            await result
    for name in _defined_functions(tree):
        if name.startswith("test_"):
            await _call_test(namespace[name], namespace, request)


async def _call_test(function: Any, namespace: dict[str, Any], request: pytest.FixtureRequest) -> None:
    kwargs = {
        name: namespace[name] if name in namespace else request.getfixturevalue(name)
        for name in inspect.signature(function).parameters
    }
    if inspect.iscoroutinefunction(function):
        await function(**kwargs)
    else:  # in a thread: a synchronous test may block on I/O to an emulator served by this loop
        await anyio.to_thread.run_sync(lambda: function(**kwargs))


DOCS_LIMITS = RateLimits(window_seconds=6.0)
"""The published table with its 60 s window shrunk tenfold, for the emulator and ``client``.

The examples make several export starts and contact imports each (100 a minute): at the real
pace that alone would take a minute. The emulator enforces the same shrunk table, so "no 429"
still proves the pacing; clients a block builds itself pace by the real, slower table.
"""


@pytest.fixture
async def docs_emulator() -> Any:
    async with QualtricsEmulator(seed=1, rate_limits=DOCS_LIMITS) as emulator:
        emulator.set_export_duration(0.2)  # server seconds per export job (default 1.5)
        emulator.directory.import_polls = 1  # a contact import completes at its first status poll
        yield emulator


@pytest.mark.parametrize("block", list(_params()))
async def test_example_runs(
    block: Block,
    docs_emulator: QualtricsEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    emulator = docs_emulator
    for name in ("QUALTRICS_DATACENTER", "QUALTRICS_PROFILE", "QUALTRICS_ASYNC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUALTRICS_API_TOKEN", emulator.api_token)
    monkeypatch.setenv("QUALTRICS_BASE_URL", emulator.base_url)
    monkeypatch.setenv("QUALTRICS_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("QUALTRICS_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.chdir(tmp_path)
    surveys = emulator.data.surveys
    # A real module, so what a block defines can be found by name (msgspec resolves a Struct's
    # annotations through sys.modules[cls.__module__]).
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    async with make_client(emulator, rate_limits=DOCS_LIMITS) as client:
        namespace: dict[str, Any] = module.__dict__
        namespace |= {
            "client": client,
            "emulator": emulator,
            "survey_id": surveys[0]["id"],
            "survey_name": surveys[0]["name"],
            "survey_ids": [s["id"] for s in surveys[:3]],
            "directory_id": emulator.data.default_directory_id,
        }
        if any("redis_url" in part.code for part in block.chain()):
            namespace["redis_url"] = request.getfixturevalue("redis_url")
        for part in block.chain():
            await _run_block(part, namespace, request)
    out = capsys.readouterr().out
    sys.stdout.write(out)  # captured again: shown with the test's report (-rP, or on failure)
    assert emulator.stats.throttled == 0, f"{block.id}: the emulator answered {emulator.stats.throttled} × 429"
    values = {name: namespace[name] for name in ("survey_id", "survey_name", "directory_id")}
    for text in block.prints:
        expected = re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], m[0]), text)  # {surveyId} stays as is
        assert expected in out, f"{block.id} should print {expected!r}; it printed:\n{out[-3000:]}"
    if _prints(block):
        assert block.prints, f"{block.id} prints: add <!-- prints: TEXT --> after its fence, naming what it prints"
        assert out.strip(), f"{block.id} printed nothing"


def _prints(block: Block) -> bool:
    tree = ast.parse(block.code)
    return any(isinstance(node, ast.Name) and node.id == "print" for node in ast.walk(tree))


# -- what is (not) run ---------------------------------------------------------------------------


def test_blocks_are_found() -> None:
    pages = {block.file for block in BLOCKS}
    assert "README.md" in pages
    assert len([p for p in pages if p.startswith("docs/")]) >= 7, sorted(pages)


def test_every_readme_block_is_run_here_or_by_the_readme_tests() -> None:
    readme = [block for block in BLOCKS if block.file == "README.md"]
    readme_tests = (ROOT / "tests" / "test_readme_examples.py").read_text()
    for block in readme:
        if block.marker == "example":
            assert f'_example("{block.marker_value}")' in readme_tests, (
                f"{block.id} is marked example: {block.marker_value} but tests/test_readme_examples.py never runs it"
            )
        elif block.marker != "not-run":
            assert block in RUN, f"{block.id} is neither marked nor run"
    assert [b for b in readme if b.marker not in ("example", "not-run")], "no README block is run here"


def test_few_blocks_are_marked_not_run() -> None:
    not_run = [f"{block.id} ({block.marker_value})" for block in BLOCKS if block.marker == "not-run"]
    assert all(block.marker_value for block in BLOCKS if block.marker == "not-run"), "give not-run a reason"
    assert len(not_run) <= MAX_NOT_RUN, f"{len(not_run)} blocks are not run (at most {MAX_NOT_RUN}): {not_run}"


def test_examples_markers_are_only_in_the_readme() -> None:
    stray = [block.id for block in BLOCKS if block.marker == "example" and block.file != "README.md"]
    assert not stray, f"<!-- example: --> is for README blocks run by test_readme_examples.py: {stray}"


def test_the_parser_sees_markers_and_expected_output(tmp_path: Path) -> None:
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- continues -->\n```python\nprint(x)\n```\n"
        "<!-- prints: 1 -->\n\n<!-- not-run: needs a real tenant -->\n```python\nraise SystemExit\n```\n"
        "```sh\necho no\n```\n"
    )
    page = tmp_path / "page.md"
    page.write_text(text)
    first, second, third = parse_blocks(page, root=tmp_path)
    assert (first.line, first.code, first.marker) == (3, "x = 1\n", None)
    assert (second.marker, second.prints, second.chain()) == ("continues", ("1",), [first, second])
    assert (third.marker, third.marker_value) == ("not-run", "needs a real tenant")


# -- the site ------------------------------------------------------------------------------------


def test_mkdocs_build_is_strict_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's banner about its successor
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in sorted(DOCS.glob("*.md")):
        assert f" {page.name}" in config, f"docs/{page.name} is not in mkdocs.yml's nav"
