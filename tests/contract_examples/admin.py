"""Administration bodies, written from qualtrics-api.md §10 (legacy contacts), §11
(organizations, divisions, groups, users, libraries) and §12.1 (event subscriptions).

Results first, then the request bodies the fact sheet spells out (decoding them strictly
checks the wire names our request models send). Where the fact sheet names no result
fields, the example holds ``id`` plus the fields of the matching create body.
"""

from __future__ import annotations

from qualtrics_async.models import admin as m

EXAMPLES: list[tuple[type, object]] = [
    # --- results ---
    (m.Created, {"id": "UR_0Ab1Cd2Ef3Gh4Ij"}),
    (m.ApiTokenResult, {"apiToken": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"}),
    (
        m.Organization,
        {
            "id": "BR_3KjZ2bC9vQ1xWfG",
            "name": "Acme Research",
            "baseUrl": "https://acme.iad1.qualtrics.com",
            "type": "Enterprise",
            "status": "Active",
        },
    ),
    (
        m.Division,
        {
            "id": "DV_9xYz8WvU7tS6rQp",
            "name": "Europe",
            "status": "Active",
            "divisionAdmins": ["UR_0Ab1Cd2Ef3Gh4Ij"],
            "permissions": {"manageDivision": True},
        },
    ),
    (m.Group, {"id": "GR_5LmN6oP7qR8sT9u", "type": "GT_1aB2cD3eF4gH5iJ", "name": "Analysts", "divisionId": None}),
    (
        m.User,
        {
            "id": "UR_0Ab1Cd2Ef3Gh4Ij",
            "username": "ana@example.com",
            "firstName": "Ana",
            "lastName": "Lima",
            "userType": "UT_BRANDADMIN",
            "email": "ana@example.com",
            "language": "EN",
            "timeZone": "Europe/Lisbon",
            "divisionId": "DV_9xYz8WvU7tS6rQp",
            "accountExpirationDate": "2027-01-31T00:00:00Z",
            "status": "Enabled",
        },
    ),
    (m.Library, {"libraryId": "GR_5LmN6oP7qR8sT9u", "libraryName": "Analysts"}),
    (
        m.LibraryMessage,
        {
            "id": "MS_2bC3dE4fG5hI6jK",
            "category": "invite",
            "description": "Spring invitation",
            "messages": {"EN": "<p>Please take our survey</p>", "FR": "<p>Répondez à notre enquête</p>"},
        },
    ),
    (m.Graphic, {"id": "IM_7kL8mN9oP0qR1sT", "name": "logo.png", "contentType": "image/png", "folder": "Logos"}),
    (
        m.EventSubscription,
        {
            "id": "SUB_4dE5fG6hI7jK8lM",
            "topics": "surveyengine.completedResponse.SV_abc123",
            "publicationUrl": "https://hooks.example.com/qualtrics",
            "encrypted": False,
            "scope": "acme",
            "successfulCalls": 42,
        },
    ),
    (
        m.LegacyMailingList,
        {"id": "ML_6fG7hI8jK9lM0nO", "libraryId": "UR_0Ab1Cd2Ef3Gh4Ij", "name": "Panel", "category": "Q1"},
    ),
    (
        m.LegacyContact,
        {
            "id": "MLRP_8hI9jK0lM1nO2p",
            "firstName": "Ben",
            "lastName": "Okafor",
            "email": "ben@example.org",
            "externalDataReference": "EXT-7",
            "language": "EN",
            "unsubscribed": False,
            "embeddedData": {"cohort": "2025"},
            "responseHistory": [],
            "emailHistory": [],
        },
    ),
    # --- request bodies ---
    (
        m.DivisionCreate,
        {"name": "Europe", "divisionAdmins": ["UR_0Ab1Cd2Ef3Gh4Ij"], "permissions": {"manageDivision": True}},
    ),
    (m.DivisionUpdate, {"name": "EMEA", "status": "Disabled", "permissions": {}}),
    (m.GroupCreate, {"type": "GT_1aB2cD3eF4gH5iJ", "name": "Analysts", "divisionId": "DV_9xYz8WvU7tS6rQp"}),
    (m.GroupUpdate, {"name": "Senior analysts"}),
    (
        m.UserCreate,
        {
            "username": "ana@example.com",
            "firstName": "Ana",
            "lastName": "Lima",
            "userType": "UT_BRANDADMIN",
            "email": "ana@example.com",
            "password": "correct horse battery staple",
            "language": "EN",
            "timeZone": "Europe/Lisbon",
            "divisionId": "DV_9xYz8WvU7tS6rQp",
            "accountExpirationDate": "2027-01-31T00:00:00Z",
        },
    ),
    (m.UserUpdate, {"status": "Enabled", "language": "EN"}),
    (
        m.LibraryMessageCreate,
        {"category": "reminder", "description": "Reminder", "messages": {"EN": "<p>Don't forget</p>"}},
    ),
    (m.LibraryMessageUpdate, {"description": "Second reminder"}),
    (
        m.GraphicUpload,
        {
            "fileUrl": "https://cdn.example.com/logo.png",
            "name": "logo.png",
            "contentType": "image/png",
            "folder": "Logos",
        },
    ),
    (
        m.EventSubscriptionCreate,
        {
            "topics": "surveyengine.completedResponse.SV_abc123",
            "publicationUrl": "https://hooks.example.com/qualtrics",
            "encrypt": False,
            "sharedKey": "s3cr3t-shared-key",
        },
    ),
]
