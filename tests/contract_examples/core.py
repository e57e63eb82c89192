"""Core models (qualtrics-api.md §1.3 whoami, §7.3 survey list)."""

from __future__ import annotations

from qualtrics_async.models.common import WhoAmI

EXAMPLES: list[tuple[type, object]] = [
    (
        WhoAmI,
        {
            "brandId": "acme",
            "userId": "UR_123",
            "userName": "jane@example.com",
            "accountType": "UT_BRANDADMIN",
            "firstName": "Jane",
            "lastName": "Doe",
            "email": "jane@example.com",
            "datacenter": "iad1",
        },
    ),
]
