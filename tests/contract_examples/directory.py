"""XM Directory result bodies (qualtrics-api.md §8, dates §5.1), written from the fact sheet's field lists.

Where the fact sheet gives no fields (mailing-list members, export status), the example holds
the documented fields the sheet does give and the emulator's documented choices.
"""

from __future__ import annotations

from qualtrics_async.models import directories as m

_CONTACT_ELEMENT = {
    "contactId": "CID_1234567890abcde",
    "firstName": "Zoë",
    "lastName": "Weiß",
    "email": "zoe@example.com",
    "phone": "+15550100",
    "extRef": "EXT-1",
    "language": "EN",
    "unsubscribed": False,
}

EXAMPLES: list[tuple[type, object]] = [
    (
        m.Directory,
        {
            "directoryId": "POOL_1234567890abcde",
            "name": "Default Directory",
            "contactCount": 250,
            "isDefault": True,
            "deduplicationCriteria": {"email": True, "externalDataReference": True, "phone": False},
        },
    ),
    (m.Contact, _CONTACT_ELEMENT),
    (
        m.Contact,
        {
            **_CONTACT_ELEMENT,
            "embeddedData": {"tier": "gold"},
            "mailingListMembership": {"CG_1234567890abcde": {"name": "Newsletter"}},
            "stats": {},
            "creationDate": 1609750800000,
            "lastModified": 1612429200000,
        },
    ),
    (
        m.MailingList,
        {
            "mailingListId": "CG_1234567890abcde",
            "name": "Newsletter",
            "ownerId": "UR_1234567890abcde",
            "creationDate": 1609750800000,
            "lastModifiedDate": 1612429200000,
            "contactCount": 30,
        },
    ),
    (
        m.MailingListContact,
        {**_CONTACT_ELEMENT, "contactLookupId": "MLRP_1234567890abcde", "mailingListUnsubscribed": False},
    ),
    (
        m.Transaction,
        {
            "transactionId": "CTR_1234567890abcde",
            "contactId": "CID_1234567890abcde",
            "mailingListId": "CG_1234567890abcde",
            "transactionDate": "2024-03-01 12:30:00",
            "data": {"store": "Zürich", "amount": "12.50"},
        },
    ),
    (m.TransactionBatch, {"batchId": "BT_1234567890abcde", "creationDate": 1609750800000}),
    (m.Segment, {"segmentId": "SEG_1234567890abcde", "name": "Enterprise", "lastModifiedDate": 1612429200000}),
    (m.Sample, {"sampleId": "SMP_1234567890abcde", "name": "Pilot panel", "sampleSize": 25}),
    (m.ContactExportProgress, {"progressId": "CEX_1234567890abcde", "percentComplete": 0.0, "status": "inProgress"}),
    (
        m.ContactExportProgress,
        {
            "progressId": "CEX_1234567890abcde",
            "percentComplete": 100.0,
            "status": "complete",
            "fileId": "1dc37ba2-7c4b-4e26-9f64-0d0c4d3cfa3c",
        },
    ),
]
