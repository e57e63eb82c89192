"""``client.responses`` — single responses: create, get, update embedded data, delete, uploaded files, schema."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from qualtrics_async._decoding import envelope_decoder, json_encoder
from qualtrics_async._multipart import FormPart, multipart_body
from qualtrics_async._sansio import build_path
from qualtrics_async._session import Target
from qualtrics_async.errors import ConfigurationError, ResponseNotReadyError
from qualtrics_async.exports._download import Transfer, check_destination, download_to_file, fetch
from qualtrics_async.models._base import Model
from qualtrics_async.models.responses import (
    EmbeddedDataUpdate,
    NewResponse,
    ResponseCreated,
    ResponseSchema,
    SingleResponse,
    UploadedFile,
)
from qualtrics_async.resources._base import Body, Resource, wire_body

MAX_UPLOAD_FILES = 5
"""A new response carries at most 5 files, parts ``file1`` … ``file5`` (qualtrics-api.md §7.1)."""
DEFAULT_READY_TIMEOUT = 30.0
"""Seconds :meth:`ResponseRecordsMixin.get` waits for a response that is not yet available."""
_FIRST_WAIT, _MAX_WAIT = 0.25, 5.0
_UPLOADED_FILE = "/surveys/{surveyId}/responses/{responseId}/uploaded-files/{fileId}"


class _Answer(Model):
    """``result`` of a single-response GET: the response (200) or ``{message}`` (202)."""

    response_id: str | None = None
    message: str | None = None
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    labels: dict[str, Any] = msgspec.field(default_factory=dict)
    displayed_fields: list[str] = msgspec.field(default_factory=list)
    displayed_values: dict[str, Any] = msgspec.field(default_factory=dict)


class ResponseRecordsMixin(Resource):
    """One response at a time (``/surveys/{surveyId}/responses/...``)."""

    __slots__ = ()

    async def create(
        self,
        survey_id: str,
        response: NewResponse | Body,
        *,
        files: Sequence[UploadedFile] = (),
        idempotency_key: str | None = None,
    ) -> str:
        """Record a new response; return its id (``R_...``).

        Endpoint: ``POST /surveys/{surveyId}/responses`` (120/min).

        ``response`` holds ``values``: answers keyed by ImportId (``QID1``, ``QID2_TEXT``) and
        metadata (``startDate``, ``finished``, ``distributionChannel``, ...). Up to 5 ``files``
        go to file-upload questions. Every call sends an ``Idempotency-Key`` (a new one, or
        ``idempotency_key``), so a retry after a dropped connection cannot record it twice.

        Example::

            rid = await client.responses.create("SV_1", NewResponse(values={"QID1": 1, "finished": 1}))
        """
        if len(files) > MAX_UPLOAD_FILES:
            raise ConfigurationError(f"a response takes at most {MAX_UPLOAD_FILES} files, got {len(files)}")
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        path = build_path("/surveys/{surveyId}/responses", surveyId=survey_id)
        request: dict[str, Any] = {"json": wire_body(response)}
        if files:
            parts = [FormPart("response", json_encoder.encode(request.pop("json")), content_type="application/json")]
            mapping = {f"file{n}": upload.question_id for n, upload in enumerate(files, start=1)}
            parts.append(FormPart("fileMapping", json_encoder.encode(mapping), content_type="application/json"))
            parts += [FormPart(f"file{n}", u.content, u.filename, u.content_type) for n, u in enumerate(files, start=1)]
            request["content"], request["content_type"] = multipart_body(parts)
        created: ResponseCreated = await self._client.request(
            "POST", path, result_type=ResponseCreated, headers=headers, idempotent=True, **request
        )
        return created.response_id

    async def get(self, survey_id: str, response_id: str, *, timeout: float = DEFAULT_READY_TIMEOUT) -> SingleResponse:
        """One response, waiting while Qualtrics says it is not yet available.

        Endpoint: ``GET /surveys/{surveyId}/responses/{responseId}`` (240/min).

        A response that was just recorded may answer 202 ("not yet available"): the call
        then asks again after 0.25 s, doubling the wait (jittered ±20 %, at most 5 s), until
        the response is there or ``timeout`` seconds have passed since the first request.

        Raises:
            ResponseNotReadyError: still 202 at the deadline.
            NotFoundError: no such survey or response.
        """
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, got {timeout!r}")
        path = build_path("/surveys/{surveyId}/responses/{responseId}", surveyId=survey_id, responseId=response_id)
        session = self._client._open_session
        decoder = envelope_decoder(_Answer)
        deadline = time.monotonic() + timeout
        wait = _FIRST_WAIT
        while True:
            answer = await session.call("GET", path, decoder=decoder, timeout=max(deadline - time.monotonic(), 1.0))
            found: _Answer = answer.result
            if answer.status != 202 and found.response_id is not None:
                fields = msgspec.structs.asdict(found)
                del fields["message"]
                return SingleResponse(**fields)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ResponseNotReadyError(
                    f"response {response_id} of survey {survey_id} is still not available after {timeout:g} s "
                    f"(202: {found.message or 'no message'}); ask again later",
                    method="GET",
                    path=path,
                    request_id=answer.meta.requestId if answer.meta else None,
                )
            await anyio.sleep(min(left, wait * random.uniform(0.8, 1.2)))  # noqa: S311 - jitter
            wait = min(wait * 2, _MAX_WAIT)

    async def update_embedded_data(self, response_id: str, changes: EmbeddedDataUpdate | Body) -> None:
        """Set embedded data fields of a response (they must be defined in the survey flow).

        Endpoint: ``PUT /responses/{responseId}`` (3000/min).

        Example::

            await client.responses.update_embedded_data(
                "R_1", EmbeddedDataUpdate(survey_id="SV_1", embedded_data={"segment": "b2b"})
            )
        """
        await self._update("/responses/{responseId}", changes, responseId=response_id)

    async def delete(self, survey_id: str, response_id: str, *, decrement_quotas: bool = False) -> None:
        """Delete a response (``decrement_quotas``: also count it out of the quotas it filled).

        Endpoint: ``DELETE /surveys/{surveyId}/responses/{responseId}`` (60/min).
        """
        path = build_path("/surveys/{surveyId}/responses/{responseId}", surveyId=survey_id, responseId=response_id)
        await self._send("DELETE", path, params={"decrementQuotas": decrement_quotas})

    async def read_uploaded_file(self, survey_id: str, response_id: str, file_id: str) -> bytes:
        """The bytes of a file uploaded with a response (kept in memory; see ``download_uploaded_file``).

        Endpoint: ``GET /surveys/{surveyId}/responses/{responseId}/uploaded-files/{fileId}`` (120/min).
        """
        received = bytearray()

        async def sink(chunk: bytes) -> None:
            received.extend(chunk)

        target = self._uploaded_file(survey_id, response_id, file_id)
        await fetch(self._client._open_session, target, Transfer(sink, what="the uploaded file"))
        return bytes(received)

    async def download_uploaded_file(
        self, survey_id: str, response_id: str, file_id: str, dest: str | os.PathLike[str]
    ) -> Path:
        """Save a file uploaded with a response to ``dest`` (written whole, then renamed; mode 0600).

        Endpoint: ``GET /surveys/{surveyId}/responses/{responseId}/uploaded-files/{fileId}`` (120/min).

        A dropped connection resumes where it stopped; the file never appears half written.
        """
        path = check_destination(dest)
        target = self._uploaded_file(survey_id, response_id, file_id)
        await download_to_file(self._client._open_session, target, path, what="the uploaded file")
        return path

    def _uploaded_file(self, survey_id: str, response_id: str, file_id: str) -> Target:
        path = build_path(_UPLOADED_FILE, surveyId=survey_id, responseId=response_id, fileId=file_id)
        return self._client._open_session.target(path)

    async def delete_uploaded_file(self, survey_id: str, response_id: str, file_id: str) -> None:
        """Delete a file uploaded with a response.

        Endpoint: ``DELETE /surveys/{surveyId}/responses/{responseId}/uploaded-files/{fileId}`` (brand limit only).
        """
        await self._delete(_UPLOADED_FILE, surveyId=survey_id, responseId=response_id, fileId=file_id)

    async def schema(self, survey_id: str) -> ResponseSchema:
        """The JSON Schema (draft 2019-09) of a survey's responses: fields, types, choices.

        Endpoint: ``GET /surveys/{surveyId}/response-schema`` (60/min).
        """
        return await self._get("/surveys/{surveyId}/response-schema", ResponseSchema, surveyId=survey_id)


__all__ = [
    "DEFAULT_READY_TIMEOUT",
    "MAX_UPLOAD_FILES",
    "FormPart",
    "ResponseNotReadyError",
    "ResponseRecordsMixin",
    "multipart_body",
]
