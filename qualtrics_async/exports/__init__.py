"""Response exports: start a job, poll it, download or stream its file.

Use them through ``client.responses`` (:class:`~qualtrics_async.resources.responses.Responses`);
this module holds the types they return and accept.
"""

from qualtrics_async.exports._extract import safe_filename
from qualtrics_async.exports._incremental import SyncResult, SyncState
from qualtrics_async.exports._job import (
    ExportFailure,
    ExportJob,
    ExportProgress,
    ExportResult,
    ExportState,
    ProgressCallback,
)
from qualtrics_async.exports._options import FORMATS, ExportFormat, ExportOptions
from qualtrics_async.exports._polling import PollSchedule

__all__ = [
    "FORMATS",
    "ExportFailure",
    "ExportFormat",
    "ExportJob",
    "ExportOptions",
    "ExportProgress",
    "ExportResult",
    "ExportState",
    "PollSchedule",
    "ProgressCallback",
    "SyncResult",
    "SyncState",
    "safe_filename",
]
