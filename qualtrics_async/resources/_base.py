"""Base class of the resource namespaces (``client.surveys``, …)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qualtrics_async._client import QualtricsClient


class Resource:
    """A family of endpoints. Holds the client, never the other way round."""

    __slots__ = ("_client",)

    def __init__(self, client: QualtricsClient) -> None:
        self._client = client
