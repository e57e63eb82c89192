"""Contract test: the fact sheet's example bodies decode into our models with unknown fields forbidden.

Models tolerate unknown fields at runtime (Qualtrics adds fields); here every model is
rebuilt with ``forbid_unknown_fields=True``, recursively, so a field the example has and the
model spells differently (``surveyID`` vs ``surveyId``) is an error instead of a silent None.
Models of authored content (:class:`~qualtrics_async._wire.WireObject`: questions, blocks, the
flow) keep every member by design and are decoded as the client decodes them. Where an answer
was recorded, ``tests/test_recordings.py`` checks the model against the recording itself.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from typing import Any

import msgspec
import pytest

import tests.contract_examples as examples_package
from qualtrics_async._wire import decode_wire_object


def _examples() -> list[tuple[str, type, object]]:
    found: list[tuple[str, type, object]] = []
    for info in pkgutil.iter_modules(examples_package.__path__):
        module = importlib.import_module(f"{examples_package.__name__}.{info.name}")
        for model, body in getattr(module, "EXAMPLES", []):
            found.append((f"{info.name}:{model.__name__}", model, body))
    return found


_STRICT: dict[type, type] = {}


def _strict(tp: Any) -> Any:
    """``tp`` with every Struct inside it rebuilt to forbid unknown fields."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp not in _STRICT:
            hints = typing.get_type_hints(tp, include_extras=True)
            fields = msgspec.structs.fields(tp)
            config = tp.__struct_config__
            _STRICT[tp] = msgspec.defstruct(
                f"Strict{tp.__name__}",
                [
                    (f.name, _strict(hints[f.name]), msgspec.field(default=f.default, name=f.encode_name))
                    if f.default is not msgspec.NODEFAULT
                    else (
                        (
                            f.name,
                            _strict(hints[f.name]),
                            msgspec.field(default_factory=f.default_factory, name=f.encode_name),
                        )
                        if f.default_factory is not msgspec.NODEFAULT
                        else (f.name, _strict(hints[f.name]), msgspec.field(name=f.encode_name))
                    )
                    for f in fields
                ],
                kw_only=True,
                forbid_unknown_fields=True,
                tag=config.tag,
                tag_field=config.tag_field,
            )
        return _STRICT[tp]
    origin = typing.get_origin(tp)
    if origin is None:
        return tp
    args = tuple(_strict(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return typing.Union[args]  # noqa: UP007
    if origin is typing.Annotated:
        return typing.Annotated[args[0], *typing.get_args(tp)[1:]]
    try:
        return origin[args]
    except TypeError:
        return tp


@pytest.mark.parametrize(("name", "model", "body"), _examples(), ids=[e[0] for e in _examples()])
def test_example_body_decodes_with_unknown_fields_forbidden(name: str, model: type, body: object) -> None:
    strict = _strict(model)
    decoded = msgspec.json.decode(msgspec.json.encode(body), type=strict, dec_hook=decode_wire_object)
    assert decoded is not None


def test_there_are_examples() -> None:
    assert len(_examples()) >= 1
