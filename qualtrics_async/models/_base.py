"""The base of every typed model: camelCase wire names, unknown fields ignored."""

from __future__ import annotations

import msgspec


class Model(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Base of qualtrics-async models.

    Wire names are camelCase (``owner_id`` ↔ ``ownerId``); fields whose wire spelling is
    not camelCase (``...ID``) name it explicitly with ``msgspec.field(name=...)``. Unknown
    fields are ignored, so a field Qualtrics adds tomorrow breaks nothing; optional fields
    have defaults.
    """
