"""Checking one contact before it is sent (RELIABILITY.md D7), and turning it into its wire form.

A contact may be a :class:`~qualtrics_async.models.ImportContact` /
:class:`~qualtrics_async.models.ContactInput`, a fetched
:class:`~qualtrics_async.models.Contact` (its read-only fields are dropped, so contacts can
be copied between directories), or a dict of wire names (``firstName``, ``embeddedData``,
...). The limits are the ones qualtrics-api.md §8 quotes: embedded-data names at most 200
characters, values at most 1024. Empty values are not sent (Qualtrics asks not to).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from qualtrics_async.models.directories import Contact, ContactInput

TEXT_FIELDS = ("firstName", "lastName", "email", "phone", "extRef", "language")
WIRE_FIELDS = (*TEXT_FIELDS, "unsubscribed", "embeddedData", "transactionData")
IDENTITY_FIELDS = ("email", "extRef", "phone", "firstName", "lastName")
"""A contact needs at least one of these; a directory deduplicates on some of them."""
MAX_EMBEDDED_NAME = 200
MAX_EMBEDDED_VALUE = 1024
MAX_TEXT = 1024
"""A generous cap on one text field, so a runaway value is caught here rather than by a 400."""

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_SNAKE = {
    "first_name": "firstName",
    "last_name": "lastName",
    "ext_ref": "extRef",
    "external_data_reference": "extRef",
    "embedded_data": "embeddedData",
    "transaction_data": "transactionData",
}


class InvalidContact(ValueError):
    """A contact that cannot be sent; ``reason`` says why and how to fix it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def to_wire(item: object) -> dict[str, Any]:
    """The checked wire form of one contact, with empty fields left out.

    Raises:
        InvalidContact: the contact breaks a rule (the reason names the field).
    """
    if isinstance(item, Contact):
        fields: Mapping[str, Any] = msgspec.to_builtins(item.to_input())
    elif isinstance(item, ContactInput):  # ImportContact too
        fields = msgspec.to_builtins(item)
    elif isinstance(item, Mapping):
        fields = item
    else:
        raise InvalidContact(f"a contact must be a dict of wire names or an ImportContact, got {type(item).__name__}")
    wire: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if name in TEXT_FIELDS:
            wire[name] = _text(name, value)
        elif name == "unsubscribed":
            if not isinstance(value, bool):
                raise InvalidContact(f"unsubscribed must be true or false, got {_short(value)}")
            wire[name] = value
        elif name in ("embeddedData", "transactionData"):
            data = _flat(name, value)
            if data:
                wire[name] = data
        else:
            raise InvalidContact(_unknown_field(name))
    email = wire.get("email")
    if email is not None and not _EMAIL.fullmatch(email):
        raise InvalidContact(f"email {_short(email)} is not an email address (expected name@domain.tld)")
    if not any(name in wire for name in IDENTITY_FIELDS):
        raise InvalidContact(
            "the contact has none of email, extRef, phone, firstName, lastName: Qualtrics needs at least one "
            "(and a directory recognises a contact again only by its deduplication fields, e.g. email or extRef)"
        )
    return wire


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidContact(f"{name} must be text, got {type(value).__name__} {_short(value)}")
    if len(value) > MAX_TEXT:
        raise InvalidContact(f"{name} is {len(value)} characters long; at most {MAX_TEXT} are accepted")
    return value


def _flat(name: str, value: object) -> dict[str, Any]:
    """A flat map of names (1..200 characters) to scalars (at most 1024 characters as text)."""
    if not isinstance(value, Mapping):
        raise InvalidContact(f"{name} must be a map of names to values, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidContact(f"{name} has a field without a name ({key!r})")
        if len(key) > MAX_EMBEDDED_NAME:
            raise InvalidContact(
                f"{name} field name {key[:40]!r}... is {len(key)} characters long; "
                f"Qualtrics accepts at most {MAX_EMBEDDED_NAME}"
            )
        if item is None or item == "":
            continue
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, float) and not math.isfinite(item):
            # pandas gives NaN for every empty cell; JSON has no NaN (it would be sent as null)
            raise InvalidContact(f"{name}.{key} is {item!r}: leave the field out, or give a finite number")
        elif isinstance(item, str | int | float):
            text = str(item)
        else:
            raise InvalidContact(f"{name}.{key} must be text, a number or true/false, got {type(item).__name__}")
        if len(text) > MAX_EMBEDDED_VALUE:
            raise InvalidContact(
                f"{name}.{key} is {len(text)} characters long; Qualtrics accepts at most {MAX_EMBEDDED_VALUE}"
            )
        out[key] = item
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_field(name: object) -> str:
    message = f"unknown contact field {name!r}"
    if not isinstance(name, str):
        return message
    suggestion = _SNAKE.get(name) or next(iter(difflib.get_close_matches(name, WIRE_FIELDS, n=1)), None)
    if suggestion is None:
        lowered = {field.lower(): field for field in WIRE_FIELDS}
        suggestion = lowered.get(name.lower())
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    return f"{message}{hint}; the fields are {', '.join(WIRE_FIELDS)} (custom data goes in embeddedData)"


__all__ = ["IDENTITY_FIELDS", "MAX_EMBEDDED_NAME", "MAX_EMBEDDED_VALUE", "WIRE_FIELDS", "InvalidContact", "to_wire"]
