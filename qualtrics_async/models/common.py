"""Models shared by every API family."""

from __future__ import annotations

from qualtrics_async.models._base import Model


class WhoAmI(Model):
    """``GET /whoami``: the identity behind the credentials."""

    user_id: str
    brand_id: str | None = None
    user_name: str | None = None
    account_type: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    datacenter: str | None = None
