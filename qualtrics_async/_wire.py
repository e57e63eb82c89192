"""JSON objects kept whole: the base of models for user-authored, polymorphic content.

Question definitions, choices, blocks and the survey flow are written by survey authors and
by Qualtrics' editor, and recorded bodies show members typed differently from one survey to
the next (``TextEntry`` as ``1`` or ``"true"``, ``Validation`` as an object or ``"None"``,
``ChoiceOrder`` mixing strings and ints; docs/fidelity.md). A typed Struct of such content
is a crash on a real survey, and it drops every member it does not model when the object is
written back. A :class:`WireObject` is instead a ``dict`` of exactly what Qualtrics sent (so
a read-modify-write sends back everything it read) with typed, tolerant accessors for the
members a program needs. Being a ``dict``, it encodes as itself everywhere (msgspec, json).

Decoding goes through :func:`decode_wire_object`, the ``dec_hook`` of every decoder in
:mod:`qualtrics_async._decoding`; a subclass names the members that identify it in
``_identifying``, and a body whose identifying member has the wrong type is refused with
its JSON path like any other shape error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

T = TypeVar("T")
V = TypeVar("V", bound="WireObject")

_TRUE_TEXT = frozenset({"true", "on", "yes", "1"})


class WireObject(dict[str, Any]):
    """A JSON object exactly as Qualtrics sent it, with typed accessors for some members.

    Index it like the ``dict`` it is (wire names, e.g. ``question["DataExportTag"]``) for
    any member; the attributes read and write the common members by Pythonic name.
    """

    __slots__ = ()

    _identifying: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}
    """Members that must have this type when present (a body where they do not is refused)."""
    _children: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}
    """Members holding nested views, converted when the object is built (wire name → converter)."""

    def __init__(self, wire: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /) -> None:
        super().__init__(wire)
        for name, convert in self._children.items():
            if name in self:
                self[name] = convert(self[name])

    @classmethod
    def from_wire(cls, obj: object) -> Self:
        """The view of a decoded JSON value; ``TypeError``/``ValueError`` when it cannot be one."""
        if not isinstance(obj, dict):
            raise TypeError(f"Expected `object`, got `{_json_kind(obj)}`")
        for name, kinds in cls._identifying.items():
            value = obj.get(name)
            if value is not None and not isinstance(value, kinds):
                expected = " | ".join(_json_kind_of_type(k) for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
                raise TypeError(f"Expected `{expected}`, got `{_json_kind(value)}` for the member `{name}`")
        return cls(obj)

    def copy(self) -> Self:
        """A shallow copy of the same type (nested views are shared, as with ``dict.copy``)."""
        return type(self)(self)

    def __or__(self, other: Any) -> Self:  # type: ignore[override]
        merged = type(self)(self)
        merged.update(other)
        return merged

    def _set(self, name: str, value: Any) -> None:
        """Set a member, or remove it when ``value`` is ``None`` (absent and null read alike)."""
        if value is None:
            self.pop(name, None)
        else:
            self[name] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class WireMap(dict[str, T]):
    """An object keyed by data (question ids, block ids, option names) that Qualtrics may send
    as an empty array (``[]``, how its PHP side writes an empty map); it decodes as ``{}``.
    Subclasses name the view their values become in ``_item`` (``None``: values as sent)."""

    __slots__ = ()

    _item: ClassVar[type[WireObject] | None] = None

    @classmethod
    def from_wire(cls, obj: object) -> Self:
        if isinstance(obj, list) and not obj:
            return cls()
        if not isinstance(obj, dict):
            raise TypeError(f"Expected `object`, got `{_json_kind(obj)}`")
        item = cls._item
        if item is None:
            return cls(obj)
        mapped: dict[str, Any] = {}
        for key, value in obj.items():
            try:
                mapped[key] = item.from_wire(value)
            except TypeError as exc:
                raise TypeError(f"{exc} in the entry {key!r}") from None
        return cls(mapped)


def decode_wire_object(tp: type, obj: Any) -> Any:
    """msgspec ``dec_hook``: build a :class:`WireObject` or :class:`WireMap` subclass from its JSON."""
    if isinstance(tp, type) and issubclass(tp, WireObject | WireMap):
        return tp.from_wire(obj)
    raise NotImplementedError(f"no decoder for {tp!r}")


# --- accessors -----------------------------------------------------------------------------------


class _Member(Generic[T]):
    """A typed, tolerant accessor of one wire member (``None`` when absent or unusable)."""

    __slots__ = ("name", "wire")

    def __init__(self, wire: str) -> None:
        self.wire = wire
        self.name = wire

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: WireObject, owner: type) -> T | None: ...
    def __get__(self, obj: WireObject | None, owner: type) -> Self | T | None:
        if obj is None:
            return self
        value = obj.get(self.wire)
        return None if value is None else self.read(value)

    def __set__(self, obj: WireObject, value: T | None) -> None:
        obj._set(self.wire, value)

    def read(self, value: Any) -> T | None:
        raise NotImplementedError


class Text(_Member[str]):
    """A text member: strings as they are, numbers as their text, anything else ``None``."""

    __slots__ = ()

    def read(self, value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return None


class Flag(_Member[bool]):
    """A yes/no member sent as a bool, an int or text (``True``, ``1``, ``"true"``, ``"ON"``).

    Setting it writes ``true_value`` for ``True`` (the wire form the recordings show for the
    member), ``false_value`` for ``False`` (``None``: remove the member), or an int or text
    as given.
    """

    __slots__ = ("false_value", "true_value")

    def __init__(self, wire: str, *, true_value: Any = True, false_value: Any = False) -> None:
        super().__init__(wire)
        self.true_value = true_value
        self.false_value = false_value

    def read(self, value: Any) -> bool | None:
        return as_flag(value)

    def wire_value(self, value: bool | int | str | None) -> Any:
        """What setting ``value`` writes on the wire (``None``: nothing)."""
        if isinstance(value, bool):
            return self.true_value if value else self.false_value
        return value

    def __set__(self, obj: WireObject, value: bool | int | str | None) -> None:
        obj._set(self.wire, self.wire_value(value))


class Object(_Member[dict[str, Any]]):
    """An object member; anything else (``"None"``, ``[]``) reads as ``None``."""

    __slots__ = ()

    def read(self, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) else None


class Raw(_Member[Any]):
    """A member of any JSON type, as sent."""

    __slots__ = ()

    def read(self, value: Any) -> Any:
        return value


class Keys(_Member[list[str]]):
    """A list of keys sent as strings, ints or both (``["1", 2]`` reads ``["1", "2"]``).

    Reading gives a new list (the wire's ints become text): assign a list to change the member.
    """

    __slots__ = ()

    def read(self, value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        return [str(item) for item in value if isinstance(item, str | int) and not isinstance(item, bool)]

    def __set__(self, obj: WireObject, value: Sequence[int | str] | None) -> None:
        obj._set(self.wire, None if value is None else list(value))


class Views(_Member[dict[str, V]]):
    """An object member whose object values are views (``Choices`` → ``{"1": Choice}``).

    Reading gives the wire's own object, so adding, replacing or deleting an entry changes
    what is sent (plain dicts put there become views when next read). Should Qualtrics send
    values that are not objects, they stay on the wire and the view is a filtered copy; a
    member sent as an empty array (``[]``, how Qualtrics writes an empty map) reads ``{}``.
    """

    __slots__ = ("view",)

    def __init__(self, wire: str, view: type[V]) -> None:
        super().__init__(wire)
        self.view = view

    def read(self, value: Any) -> dict[str, V] | None:
        if isinstance(value, list) and not value:
            return {}
        if not isinstance(value, dict):
            return None
        for key, item in value.items():
            if isinstance(item, dict) and not isinstance(item, self.view):
                value[key] = self.view(item)
        if all(isinstance(item, self.view) for item in value.values()):
            return value
        return {str(k): v for k, v in value.items() if isinstance(v, self.view)}

    def __set__(self, obj: WireObject, value: Mapping[str, V | Mapping[str, Any]] | None) -> None:
        obj._set(self.wire, None if value is None else views_of(self.view)(dict(value)))


class ViewList(_Member[list[V]]):
    """An array member whose object items are views (``BlockElements``).

    Reading gives the wire's own list (appending changes what is sent), or a filtered copy
    should Qualtrics send items that are not objects.
    """

    __slots__ = ("view",)

    def __init__(self, wire: str, view: type[V]) -> None:
        super().__init__(wire)
        self.view = view

    def read(self, value: Any) -> list[V] | None:
        if not isinstance(value, list):
            return None
        for index, item in enumerate(value):
            if isinstance(item, dict) and not isinstance(item, self.view):
                value[index] = self.view(item)
        if all(isinstance(item, self.view) for item in value):
            return value
        return [item for item in value if isinstance(item, self.view)]

    def __set__(self, obj: WireObject, value: Iterable[V | Mapping[str, Any]] | None) -> None:
        obj._set(self.wire, None if value is None else list_of(self.view)(list(value)))


class When(_Member[datetime]):
    """A date sent as ISO 8601 with its zone (``2019-03-08T06:12:17Z``); ``None`` for anything
    else (see :func:`parse_when`)."""

    __slots__ = ()

    def read(self, value: Any) -> datetime | None:
        return parse_when(value)


# --- helpers -------------------------------------------------------------------------------------


def as_flag(value: Any) -> bool | None:
    """A wire yes/no as a bool: ``True``/``1``/``"true"``/``"ON"`` → True; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return bool(value)


def parse_when(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text with a zone (``Z`` or an offset), else ``None``.

    Text without a zone, MySQL's ``YYYY-MM-DD HH:MM:SS`` included, reads ``None``: recorded
    QSF dates of that form are in the brand's local time, 7 hours off the ISO form of the same
    moment (docs/fidelity.md), so guessing a zone would give a wrong instant silently. The raw
    text stays on the wire object.
    """
    if not isinstance(value, str) or "T" not in value:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def views_of(view: type[V]) -> Callable[[Any], Any]:
    """A converter for a member holding an object of views: object values become ``view``."""

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: view(v) if isinstance(v, dict) and not isinstance(v, view) else v for k, v in value.items()}

    return convert


def list_of(view: type[V]) -> Callable[[Any], Any]:
    """A converter for a member holding an array of views: object items become ``view``."""

    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [view(v) if isinstance(v, dict) and not isinstance(v, view) else v for v in value]

    return convert


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _json_kind_of_type(kind: type) -> str:
    return {str: "str", int: "int", float: "float", bool: "bool", dict: "object", list: "array"}.get(
        kind, kind.__name__
    )


__all__ = [
    "Flag",
    "Keys",
    "Object",
    "Raw",
    "Text",
    "ViewList",
    "Views",
    "When",
    "WireMap",
    "WireObject",
    "as_flag",
    "decode_wire_object",
    "list_of",
    "parse_when",
    "views_of",
]
