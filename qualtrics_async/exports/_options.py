"""The options of ``POST /surveys/{surveyId}/export-responses``, checked before any request.

Every body parameter of qualtrics-api.md §6.2 is a typed keyword (snake_case here,
camelCase on the wire). The combinations Qualtrics documents as invalid are refused
locally with an error that names the parameter, so a bad call costs no request and no
slot of the 100-per-minute export budget.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypedDict, get_args

from qualtrics_async.errors import ConfigurationError

ExportFormat = Literal["csv", "tsv", "json", "ndjson", "spss", "xml"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
STREAMABLE_FORMATS = ("csv", "tsv", "json", "ndjson")
"""The formats whose records can be decoded while the file downloads."""


class ExportOptions(TypedDict, total=False):
    """Keyword options of a response export (qualtrics-api.md §6.2).

    Dates are timezone-aware :class:`~datetime.datetime` objects or ISO 8601 strings with a
    zone (``"2024-03-01T00:00:00Z"``); ``start_date`` is inclusive, ``end_date`` exclusive.
    """

    compress: bool
    """ZIP the file (Qualtrics' default: true)."""
    start_date: datetime | str
    """Only responses recorded (or last modified, with ``sort_by_last_modified_date``) at or after this."""
    end_date: datetime | str
    """Only responses recorded (or last modified) strictly before this."""
    limit: int
    """The most responses to export."""
    use_labels: bool
    """Choice text instead of recode values (csv/tsv/spss/xml; not with ``include_label_columns``)."""
    include_label_columns: bool
    """Two columns per choice question: recode and label."""
    seen_unanswered_recode: int
    """The value for questions seen but not answered."""
    multiselect_seen_unanswered_recode: int
    """The same for multi-select choices (default: ``seen_unanswered_recode``)."""
    include_display_order: bool
    """Randomisation display-order columns."""
    format_decimal_as_comma: bool
    """Decimal comma instead of point."""
    time_zone: str
    """A tz database name such as ``"America/Chicago"`` for the dates in the file (default UTC)."""
    newline_replacement: str
    """Replace newlines inside answers (csv/tsv only)."""
    breakout_sets: bool
    """Split multi-value fields into columns (Qualtrics' default: true)."""
    question_ids: Sequence[str]
    """Only these questions, as internal ids (``["QID1", "QID7"]``)."""
    embedded_data_ids: Sequence[str]
    """Only these embedded-data fields."""
    survey_metadata_ids: Sequence[str]
    """Only these metadata fields (``startDate``, ``recordedDate``, ``_recordId``, …)."""
    filter_id: str
    """A saved response filter (created in the Qualtrics UI); see ``GET /surveys/{id}/filters``."""
    export_responses_in_progress: bool
    """Only responses still in progress."""
    sort_by_last_modified_date: bool
    """Date filters act on the last-modified date; adds a ``LastModifiedDate`` column."""
    allow_continuation: bool
    """Ask for a ``continuationToken`` when the export finishes (incremental exports)."""
    continuation_token: str
    """Export only what was recorded or changed since the export that returned this token."""


_WIRE_NAMES: dict[str, str] = {
    "compress": "compress",
    "start_date": "startDate",
    "end_date": "endDate",
    "limit": "limit",
    "use_labels": "useLabels",
    "include_label_columns": "includeLabelColumns",
    "seen_unanswered_recode": "seenUnansweredRecode",
    "multiselect_seen_unanswered_recode": "multiselectSeenUnansweredRecode",
    "include_display_order": "includeDisplayOrder",
    "format_decimal_as_comma": "formatDecimalAsComma",
    "time_zone": "timeZone",
    "newline_replacement": "newlineReplacement",
    "breakout_sets": "breakoutSets",
    "question_ids": "questionIds",
    "embedded_data_ids": "embeddedDataIds",
    "survey_metadata_ids": "surveyMetadataIds",
    "filter_id": "filterId",
    "export_responses_in_progress": "exportResponsesInProgress",
    "sort_by_last_modified_date": "sortByLastModifiedDate",
    "allow_continuation": "allowContinuation",
    "continuation_token": "continuationToken",
}
OPTION_NAMES = frozenset(_WIRE_NAMES)

_BOOLS = frozenset(
    {
        "compress",
        "use_labels",
        "include_label_columns",
        "include_display_order",
        "format_decimal_as_comma",
        "breakout_sets",
        "export_responses_in_progress",
        "sort_by_last_modified_date",
        "allow_continuation",
    }
)
_INTS = frozenset({"limit", "seen_unanswered_recode", "multiselect_seen_unanswered_recode"})
_STRINGS = frozenset({"time_zone", "newline_replacement", "filter_id", "continuation_token"})
_ID_LISTS = frozenset({"question_ids", "embedded_data_ids", "survey_metadata_ids"})
_DATES = frozenset({"start_date", "end_date"})

# qualtrics-api.md §6.2: "With format json/ndjson, these params are forbidden (400)".
_NOT_WITH_JSON = (
    "include_display_order",
    "use_labels",
    "format_decimal_as_comma",
    "seen_unanswered_recode",
    "multiselect_seen_unanswered_recode",
    "time_zone",
    "newline_replacement",
    "breakout_sets",
)
_QUESTION_ID = re.compile(r"QID\d+")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})")


def export_body(format: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``options`` and build the JSON body of the export request.

    Raises:
        ConfigurationError: an unknown option, a value of the wrong type, or a combination
            Qualtrics refuses; the message names the parameter and says what to do.
    """
    if format not in FORMATS:
        raise ConfigurationError(f"format={format!r} is not an export format; use one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, OPTION_NAMES, n=1) or difflib.get_close_matches(
                _snake(name), OPTION_NAMES, n=1
            )
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigurationError(
            f"unknown export option {', '.join(hints)}; the options are the snake_case names of "
            "qualtrics-api.md §6.2: " + ", ".join(sorted(OPTION_NAMES))
        )
    present = {name: value for name, value in options.items() if value is not None}
    for name, value in present.items():
        _check_type(name, value)
    _check_combinations(format, present)
    body: dict[str, Any] = {"format": format}
    for name, value in present.items():
        if name in _DATES:
            body[_WIRE_NAMES[name]] = iso_datetime(name, value)
        elif name in _ID_LISTS:
            body[_WIRE_NAMES[name]] = list(value)  # arrays stay arrays, even of one id
        else:
            body[_WIRE_NAMES[name]] = value
    return body


def file_extension(format: str, *, compress: bool) -> str:
    """The file extension of an export: ``zip`` when compressed, else the format's own."""
    if compress:
        return "zip"
    return {"spss": "sav"}.get(format, format)


def iso_datetime(name: str, value: datetime | str) -> str:
    """An ISO 8601 timestamp with an explicit zone, as Qualtrics expects (§5.1)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConfigurationError(
                f"{name}={value!r} has no time zone; pass an aware datetime, e.g. datetime(..., tzinfo=timezone.utc)"
            )
        return value.isoformat().replace("+00:00", "Z")
    if not _ISO_DATETIME.fullmatch(value):
        raise ConfigurationError(
            f"{name}={value!r} is not an ISO 8601 date-time with a zone, e.g. '2024-03-01T00:00:00Z'"
        )
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a valid date-time") from None
    return value


def _check_type(name: str, value: Any) -> None:
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    elif name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{name} must be an integer, got {value!r}")
        if name == "limit" and value < 1:
            raise ConfigurationError(f"limit must be at least 1, got {value!r}")
    elif name in _STRINGS:
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"{name} must be a non-empty string, got {value!r}")
    elif name in _ID_LISTS:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ConfigurationError(f"{name} must be a list of ids such as ['QID1'], got {value!r}")
        if not value or not all(isinstance(item, str) and item for item in value):
            raise ConfigurationError(f"{name} must be a non-empty list of non-empty strings, got {value!r}")
        if name == "question_ids":
            bad = [item for item in value if not _QUESTION_ID.fullmatch(item)]
            if bad:
                raise ConfigurationError(
                    f"question_ids takes internal question ids like 'QID5', not {bad!r}; export columns such as "
                    "'QID5_3_TEXT' are selected by their question's id"
                )
    elif name in _DATES and not isinstance(value, datetime | str):
        raise ConfigurationError(f"{name} must be a datetime or an ISO 8601 string, got {value!r}")


def _check_combinations(format: str, options: Mapping[str, Any]) -> None:
    forbidden = [name for name in _NOT_WITH_JSON if name in options]
    if format in ("json", "ndjson") and forbidden:
        raise ConfigurationError(
            f"{', '.join(forbidden)} cannot be used with format={format!r} (Qualtrics answers 400); "
            "drop it or export csv/tsv"
        )
    if "newline_replacement" in options and format not in ("csv", "tsv"):
        raise ConfigurationError(f"newline_replacement applies to csv and tsv only, not format={format!r}")
    if options.get("use_labels") and options.get("include_label_columns"):
        raise ConfigurationError("use_labels cannot be combined with include_label_columns; choose one")
    if "filter_id" in options:
        for other in ("sort_by_last_modified_date", "allow_continuation", "continuation_token"):
            if options.get(other):
                raise ConfigurationError(
                    f"filter_id cannot be combined with {other} (Qualtrics refuses it); "
                    "use date windows with the filter instead"
                )
    if "continuation_token" in options and "allow_continuation" in options:
        raise ConfigurationError(
            "continuation_token already implies allow_continuation; do not pass allow_continuation with it"
        )
    start, end = options.get("start_date"), options.get("end_date")
    if start is not None and end is not None:
        start_at = _as_datetime(iso_datetime("start_date", start))
        end_at = _as_datetime(iso_datetime("end_date", end))
        if start_at >= end_at:
            raise ConfigurationError(
                f"start_date ({start}) must be before end_date ({end}): start is inclusive, end exclusive"
            )
    if "time_zone" in options:
        _check_time_zone(options["time_zone"])


def _as_datetime(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _check_time_zone(name: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if zoneinfo.available_timezones():  # no tz database at all: let Qualtrics judge
            raise ConfigurationError(
                f"time_zone={name!r} is not a tz database name; use one like 'UTC' or 'America/Chicago'"
            ) from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


__all__ = ["FORMATS", "OPTION_NAMES", "STREAMABLE_FORMATS", "ExportFormat", "ExportOptions", "export_body"]
