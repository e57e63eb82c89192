"""Bulk contact import into XM Directory: batched, rate-paced, resumable, with a per-contact report.

Use it through :meth:`client.contacts.bulk_import <qualtrics_async.resources.directory.Contacts.bulk_import>`
and :meth:`~qualtrics_async.resources.directory.Contacts.bulk_import_csv`; this package holds
the report types they return.
"""

from qualtrics_async.contact_import._report import (
    BatchResult,
    BatchStatus,
    BulkImportProgress,
    ContactFailure,
    FailureKind,
    ImportReport,
    ProgressCallback,
)
from qualtrics_async.contact_import._validate import MAX_EMBEDDED_NAME, MAX_EMBEDDED_VALUE
from qualtrics_async.errors import ContactImportError

__all__ = [
    "MAX_EMBEDDED_NAME",
    "MAX_EMBEDDED_VALUE",
    "BatchResult",
    "BatchStatus",
    "BulkImportProgress",
    "ContactFailure",
    "ContactImportError",
    "FailureKind",
    "ImportReport",
    "ProgressCallback",
]
