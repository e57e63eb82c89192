"""Pure interpretation of answers: Retry-After (A2), paths (I4), error mapping (C*), decoding (D*)."""

from __future__ import annotations

import email.utils
import time

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from qualtrics_async import build_path
from qualtrics_async._decoding import envelope_decoder
from qualtrics_async._sansio import CallInfo, decode_failure, parse_retry_after, status_error
from qualtrics_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ResponseValidationError,
    ServerError,
    UnexpectedRedirectError,
    UnprocessableEntityError,
)
from qualtrics_async.models import SurveySummary

CALL = CallInfo("GET", "/surveys")
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
        ("99999999", 99999999.0),
    ],
)
def test_A2_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_A2_retry_after_http_date() -> None:
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(when, now=NOW) == pytest.approx(30.0)
    past = email.utils.formatdate(NOW - 30, usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0


@given(st.text(max_size=40))
def test_A2_retry_after_never_raises_and_is_never_negative(value: str) -> None:
    parsed = parse_retry_after(value, now=time.time())
    assert parsed is None or parsed >= 0


def test_I4_build_path_encodes_ids_as_one_segment() -> None:
    assert build_path("/surveys/{surveyId}", surveyId="SV_1") == "/surveys/SV_1"
    assert build_path("/surveys/{surveyId}", surveyId="../users") == "/surveys/..%2Fusers"
    assert build_path("/surveys/{surveyId}", surveyId="a?b#c d") == "/surveys/a%3Fb%23c%20d"
    with pytest.raises(ValueError, match="non-empty id"):
        build_path("/surveys/{surveyId}", surveyId="..")
    with pytest.raises(KeyError, match="surveyId"):
        build_path("/surveys/{surveyId}")


def _error_body(status: str, message: str, code: str) -> bytes:
    return msgspec.json.encode(
        {"meta": {"httpStatus": status, "requestId": "req-42", "error": {"errorMessage": message, "errorCode": code}}}
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (302, UnexpectedRedirectError),
        (418, APIStatusError),
    ],
)
def test_C_status_maps_to_its_error_class_with_qualtrics_details(status: int, cls: type[APIStatusError]) -> None:
    body = _error_body(f"{status} - Whatever", "Invalid request", "QVAL_1")
    err = status_error(status, "Reason", body, CIMultiDict(), CALL)
    assert type(err) is cls
    assert err.status == status
    assert err.error_code == "QVAL_1"
    assert err.error_message == "Invalid request"
    assert err.request_id == "req-42"
    assert err.method == "GET"
    assert err.path == "/surveys"
    text = str(err)
    assert "Invalid request" in text
    assert "QVAL_1" in text
    assert "req-42" in text


def test_C1_bad_request_says_how_to_fix() -> None:
    err = status_error(400, "Bad Request", _error_body("400 - Bad Request", "bad", "QVAL_1"), CIMultiDict(), CALL)
    assert "check the parameter" in str(err)


def test_C1_paging_past_10000_points_to_the_export_api() -> None:
    err = status_error(400, "Bad Request", _error_body("400 - Bad Request", "too many", "BRE_0.5"), CIMultiDict(), CALL)
    assert isinstance(err, BadRequestError)
    assert err.error_code == "BRE_0.5"
    assert "use an export instead" in str(err)


def test_B9_html_error_page_reports_the_status_and_a_short_snippet() -> None:
    page = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    err = status_error(502, "Bad Gateway", page, CIMultiDict({"Content-Type": "text/html"}), CALL)
    assert isinstance(err, ServerError)
    assert err.status == 502
    assert err.body_snippet is not None
    assert len(err.body_snippet) <= 520
    assert "text/html" in str(err)


def test_A2_rate_limit_error_carries_retry_after() -> None:
    err = status_error(429, "Too Many Requests", b"", CIMultiDict(), CALL, retry_after=30.0)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 30.0
    assert "Retry-After 30" in str(err)


def test_C9_redirect_error_names_only_the_origin() -> None:
    headers = CIMultiDict({"Location": "https://evil.example.com/steal?x=1"})
    err = status_error(302, "Found", b"", headers, CALL)
    assert isinstance(err, UnexpectedRedirectError)
    assert "https://evil.example.com" in str(err)
    assert "steal" not in str(err)


def _decode_error(body: bytes, item: object = SurveySummary) -> ResponseDecodeError:
    try:
        envelope_decoder(item).decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return decode_failure(exc, body, 200, "application/json", CALL)
    raise AssertionError("decoded")


def test_D1_unknown_fields_are_ignored() -> None:
    body = b'{"result": {"id": "SV_1", "name": "n", "brandNewField": [1, 2]}, "meta": {"requestId": "r"}}'
    assert envelope_decoder(SurveySummary).decode(body).result == SurveySummary(id="SV_1", name="n")


def test_D2_wrong_type_names_the_json_path() -> None:
    err = _decode_error(b'{"result": {"id": 5, "name": "n"}, "meta": {"requestId": "r-7"}}')
    assert isinstance(err, ResponseValidationError)
    assert "$.result.id" in str(err)
    assert "Expected `str`" in str(err)


def test_D3_truncated_json_is_a_clear_decode_error() -> None:
    err = _decode_error(b'{"result": {"id": "SV_1", "na')
    assert type(err) is ResponseDecodeError
    assert "truncated or invalid JSON" in str(err)


def test_D3_html_body_on_200_is_named_as_not_json() -> None:
    err = _decode_error(b"<html>maintenance</html>")
    assert "not JSON" in str(err)
    assert "maintenance" in str(err)


def test_D4_bad_timestamp_is_rejected_with_its_path() -> None:
    err = _decode_error(b'{"result": {"id": "SV_1", "name": "n", "lastModified": "yesterday"}}')
    assert "$.result.lastModified" in str(err)


def test_D4_rfc3339_timestamps_with_and_without_millis_and_offsets() -> None:
    for stamp in ("2024-03-01T00:00:00Z", "2024-03-01T00:00:00.123Z", "2024-03-01T00:00:00-07:00"):
        body = msgspec.json.encode({"result": {"id": "SV_1", "name": "n", "lastModified": stamp}})
        result = envelope_decoder(SurveySummary).decode(body).result
        assert isinstance(result, SurveySummary)
        assert result.last_modified is not None
        assert result.last_modified.tzinfo is not None


def test_D5_lone_surrogate_is_rejected_consistently() -> None:
    # Policy: msgspec rejects lone surrogates (stdlib json would accept them and fail later
    # on encode); the client reports it as a decode error rather than passing a broken string on.
    err = _decode_error(b'{"result": {"id": "SV_1", "name": "\\ud800"}}')
    assert isinstance(err, ResponseDecodeError)


def test_C2_missing_credentials_answer_400_ATP_2_and_raise_an_authentication_error() -> None:
    # Recorded: Qualtrics answers a call without credentials 400 ATP_2, not 401.
    body = (
        b'{"meta":{"httpStatus":"400 - Bad Request","error":{"errorMessage":"Expected authorization in headers, '
        b'but none provided.","errorCode":"ATP_2"},"requestId":"6388361c-b0e8-436a-9712-c486076b02bb"}}'
    )
    exc = status_error(400, "Bad Request", body, {}, CallInfo("GET", "/whoami"))
    assert isinstance(exc, AuthenticationError)
    assert (exc.status, exc.error_code) == (400, "ATP_2")
    assert "proxy" in str(exc)
    assert "6388361c-b0e8-436a-9712-c486076b02bb" in str(exc)


def test_C_a_legacy_error_envelope_still_names_the_error() -> None:
    # Recorded (2015): the error sits in meta itself, with internalErrorCode and errorId.
    body = (
        b'{"meta":{"status":"Error","errorMessage":"Missing or invalid parameter panelId.",'
        b'"internalErrorCode":"GPR_1","errorId":"f399b7aa-7ce4-4d1d-9903-61435a929a9d"},"result":null}'
    )
    exc = status_error(400, "Bad Request", body, {}, CallInfo("POST", "/mailinglists/ML_1/contactimports"))
    assert isinstance(exc, BadRequestError)
    assert (exc.error_code, exc.error_message) == ("GPR_1", "Missing or invalid parameter panelId.")
    assert exc.request_id == "f399b7aa-7ce4-4d1d-9903-61435a929a9d"
    assert "Missing or invalid parameter panelId. (GPR_1)" in str(exc)
