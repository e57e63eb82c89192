"""FastAPI with qualtrics-async: one shared client per app, and a verified Qualtrics webhook.

Run it from the repository root (``pip install 'qualtrics-async[fastapi]'``)::

    export QUALTRICS_API_TOKEN=...         # or QUALTRICS_CLIENT_ID / QUALTRICS_CLIENT_SECRET
    export QUALTRICS_DATACENTER=iad1       # or QUALTRICS_BASE_URL=https://<brand>.iad1.qualtrics.com
    export QUALTRICS_WEBHOOK_KEY=...       # the sharedKey of your event subscription
    uvicorn examples.fastapi_webhooks:app --port 8000

and point an event subscription at it (``encrypt: false``, HTTPS in production)::

    await client.event_subscriptions.create(EventSubscriptionCreate(
        topics="surveyengine.completedResponse.SV_...",
        publication_url="https://example.com/webhooks/qualtrics",
        shared_key=os.environ["QUALTRICS_WEBHOOK_KEY"],
    ))

What it shows (RELIABILITY.md H4 and I5):

* The lifespan opens **one** :class:`~qualtrics_async.QualtricsClient` per app — one connection
  pool, one rate limiter — and closes it on shutdown. Handlers get it through a dependency
  (``ClientDep``); never open a client per request.
* ``POST /webhooks/qualtrics`` verifies the HMAC, drops replays and parses the event:
  401 when forged or unsigned, 400 when it is not a Qualtrics delivery, 200 otherwise — also
  for a delivery already accepted (``{"status": "duplicate"}``), so a redelivery is
  acknowledged without being processed twice. The work (fetching the response the event
  names) runs after the answer, so Qualtrics gets its 2xx at once.
* ``GET /surveys/{survey_id}`` calls Qualtrics from a request handler.

With several workers (``uvicorn --workers N``) every worker has its own client, limiter and
replay cache: give each a share of the rate budget (``QualtricsClient(utilization=1 / N)``)
or a shared limiter, and keep delivery ids in a shared store (a ``ReplayGuard`` over Redis).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from qualtrics_async import QualtricsClient
from qualtrics_async.errors import ConfigurationError, NotFoundError, QualtricsError
from qualtrics_async.models import SingleResponse
from qualtrics_async.webhooks import (
    DEFAULT_MAX_BODY_BYTES,
    CompletedResponseEvent,
    WebhookEvent,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookReplayError,
    WebhookVerificationError,
)

WEBHOOK_KEY_ENV = "QUALTRICS_WEBHOOK_KEY"
WEBHOOK_PATH = "/webhooks/qualtrics"

logger = logging.getLogger("qualtrics_example")

EventHandler = Callable[[WebhookEvent, QualtricsClient, "deque[SingleResponse]"], Awaitable[None]]
"""Processes one accepted event after the webhook was answered."""


async def fetch_completed_response(
    event: WebhookEvent, client: QualtricsClient, received: deque[SingleResponse]
) -> None:
    """The default processing: fetch each completed response (the event carries ids only).

    A real app would upsert it into its database, keyed by ``response_id`` (idempotent).
    """
    if not isinstance(event, CompletedResponseEvent) or not (event.survey_id and event.response_id):
        logger.info("qualtrics event %s ignored", event.topic_name)
        return
    try:
        response = await client.responses.get(event.survey_id, event.response_id)
    except QualtricsError as exc:
        logger.warning("could not fetch response %s: %s", event.response_id, exc)
        return
    received.append(response)
    logger.info("fetched response %s of survey %s", response.response_id, event.survey_id)


def get_client(request: Request) -> QualtricsClient:
    """The app's shared client (a FastAPI dependency)."""
    client: QualtricsClient = request.app.state.qualtrics
    return client


ClientDep = Annotated[QualtricsClient, Depends(get_client)]


def create_app(env: Mapping[str, str] | None = None, *, on_event: EventHandler = fetch_completed_response) -> FastAPI:
    """The app. Settings are read from ``env`` (default: the process environment) at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = os.environ if env is None else env
        webhook_key = settings.get(WEBHOOK_KEY_ENV)
        if not webhook_key:
            raise ConfigurationError(f"set {WEBHOOK_KEY_ENV} to the sharedKey of the event subscription")
        async with QualtricsClient(env=settings) as client:  # one client (pool + limiter) for the whole app
            app.state.qualtrics = client
            app.state.webhooks = WebhookReceiver(shared_key=webhook_key)
            app.state.received = deque(maxlen=1000)
            yield
        # leaving the block closed the pool; the background tasks of the last requests finished before

    app = FastAPI(title="qualtrics-async webhook example", lifespan=lifespan)

    @app.post(WEBHOOK_PATH)
    async def qualtrics_webhook(request: Request, background: BackgroundTasks, client: ClientDep) -> JSONResponse:
        """Receive one Qualtrics delivery: verify, de-duplicate, parse; process it after answering."""
        receiver: WebhookReceiver = request.app.state.webhooks
        try:
            body = await _read_body(request, receiver.max_body_bytes)
            event = receiver.parse(body, request.headers.get("content-type"))
        except WebhookVerificationError:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        except WebhookPayloadError as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        except WebhookReplayError:
            return JSONResponse({"status": "duplicate"})
        background.add_task(on_event, event, client, request.app.state.received)
        return JSONResponse({"status": "accepted", "topic": event.topic_name})

    @app.get("/surveys/{survey_id}")
    async def get_survey(survey_id: str, client: ClientDep) -> dict[str, Any]:
        """A survey's id, name and state, read through the app's shared client."""
        try:
            survey = await client.surveys.get(survey_id)
        except NotFoundError:
            raise HTTPException(status_code=404, detail="no such survey") from None
        except QualtricsError as exc:
            logger.warning("Qualtrics call failed: %s", exc)
            raise HTTPException(status_code=502, detail="the Qualtrics API call failed") from None
        return {"id": survey.id, "name": survey.name, "isActive": survey.is_active}

    return app


async def _read_body(request: Request, limit: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """The request body, refusing to buffer more than ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise WebhookPayloadError(f"the body is larger than {limit} bytes")
    return bytes(body)


app = create_app()
"""``uvicorn examples.fastapi_webhooks:app``"""
