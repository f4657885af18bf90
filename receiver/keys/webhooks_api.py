"""The caller's app's own task-webhook secret, read and rotated (as Replicate gives an
account's): `GET /v1/webhooks/default/secret`, `POST /v1/webhooks/default/secret/rotate`.
Its tasks' own webhooks are signed with it, no other app's (receiver/keys/webhook_keys.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import Response

from receiver.kernel.errors import InvalidRequest
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import answer, reply
from receiver.kernel.secrets.message_signatures import key_id
from receiver.keys.guard import caller_of, operation
from receiver.keys.webhook_keys import AppWebhookKeys, TaskWebhookKeys
from receiver.wiring.dependencies import DeliverySection, on_app

WebhookKeys = Annotated[TaskWebhookKeys, Depends(on_app("task_webhook_keys", TaskWebhookKeys))]


class WebhookSecret(Answer):
    key: str = Field(
        description="The app's `whsec_` secret: its tasks' own webhooks carry a Standard"
        " Webhooks `v1` signature made with it (verify with it as given)."
    )
    public_key: str = Field(
        description="The `whpk_` public key of the app's ed25519 key, which signs `v1a` beside"
        " `v1`; also in the app's JWKS, `/.well-known/jwks/{app}.json`."
    )
    key_id: str = Field(description="That key's `kid` in the app's JWKS.")
    previous_key_until: float | None = Field(
        description="During a rotation's overlap: until then the secret and key it replaced"
        " sign too, space-separated in `webhook-signature`; null: no overlap."
    )


def _app_of(request: Request, env: str) -> str:
    """The caller's app (422 for the admin token, which has none)."""
    owner = caller_of(request).owner
    if owner is None:
        raise InvalidRequest(
            "the admin token has no app: the operator's own tasks' webhooks are signed with"
            f" the secret in {env or 'delivery.task_webhook_secret_env'}, an app's with its"
            " own, which a key of the app reads here"
        )
    return owner


def _shown(keys: AppWebhookKeys) -> dict[str, object]:
    overlap = len(keys.in_use(time.time())) > 1
    return {
        "key": keys.current.secret,
        "public_key": keys.current.public_key,
        "key_id": key_id(keys.current.key),
        "previous_key_until": keys.previous_until if overlap else None,
    }


_NO_APP = answer("The admin token (no app): `detail` says what signs its tasks.", ErrorAnswer)
router = APIRouter(tags=["tasks"])


@router.get(
    "/v1/webhooks/default/secret",
    **operation(
        "tasks:submit",
        "The app's task-webhook secret",
        "The secret the caller's app's tasks' own webhooks (`webhook` on a submit) are signed"
        " with, made at its first need: no other app's tasks are signed with it, and the"
        " relay-wide `delivery.task_webhook_secret_env` signs only the operator's own tasks.",
        {200: answer("Its secret.", WebhookSecret), 422: _NO_APP},
        params=False,
    ),
)
async def webhook_secret(request: Request, keys: WebhookKeys, rules: DeliverySection) -> Response:
    app_id = _app_of(request, rules.task_webhook_secret_env)
    return reply(WebhookSecret, _shown(await keys.of(app_id)))


@router.post(
    "/v1/webhooks/default/secret/rotate",
    **operation(
        "downstreams",
        "Rotate the app's task-webhook secret",
        "A new secret and ed25519 key for the caller's app's task webhooks. For"
        " `delivery.rotation_overlap_seconds` (24 h by default) every delivery carries the"
        " old signatures beside the new ones (`previous_key_until` says until when), and the"
        " app's JWKS holds both public keys, so its receivers can switch.",
        {200: answer("Rotated.", WebhookSecret), 422: _NO_APP},
        params=False,
    ),
)
async def rotate_webhook_secret(
    request: Request, keys: WebhookKeys, rules: DeliverySection
) -> Response:
    app_id = _app_of(request, rules.task_webhook_secret_env)
    return reply(WebhookSecret, _shown(await keys.rotate(app_id)))
