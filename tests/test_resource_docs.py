"""Every public resource method names its endpoint(s) and rate limit, and they match the table.

Docstrings carry lines such as::

    Endpoint: ``GET /groups/{groupId}`` (600/min).

(``brand limit only`` when the table has no row). The limit is checked against
``RateLimits()``, so a docstring cannot drift from the limits the client enforces.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import qualtrics_async.resources as resources_package
from qualtrics_async import RateLimits
from qualtrics_async.resources._base import Resource

ENDPOINT = re.compile(r"Endpoint: ``(GET|POST|PUT|DELETE) (/[^`\s]*)`` \(([^)]*)\)")


def _methods() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for info in pkgutil.iter_modules(resources_package.__path__):
        module = importlib.import_module(f"{resources_package.__name__}.{info.name}")
        for cls_name, cls in vars(module).items():
            if not (inspect.isclass(cls) and issubclass(cls, Resource)) or cls.__module__ != module.__name__:
                continue
            for name, member in vars(cls).items():
                if name.startswith("_") or not callable(member):
                    continue
                found.append((f"{cls_name}.{name}", inspect.getdoc(member) or "", module.__name__))
    return sorted(found)


def _rate(method: str, path: str) -> str:
    limit = RateLimits().route(method, path).per_minute
    return "brand limit only" if limit is None else f"{limit:g}/min"


METHODS = _methods()


@pytest.mark.parametrize(("name", "doc", "module"), METHODS, ids=[m[0] for m in METHODS])
def test_public_method_documents_its_endpoint_and_rate_limit(name: str, doc: str, module: str) -> None:
    endpoints = ENDPOINT.findall(doc)
    assert endpoints, f"{name} ({module}): the docstring needs a line 'Endpoint: ``METHOD /path`` (N/min).'"
    for method, path, rate in endpoints:
        assert rate == _rate(method, path), (
            f"{name}: {method} {path} is {_rate(method, path)}, the docstring says {rate}"
        )


def test_every_family_has_methods() -> None:
    classes = {name.split(".")[0] for name, _doc, _module in METHODS}
    assert {"Surveys", "Responses"} <= classes
