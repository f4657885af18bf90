"""The public keys of the downstreams that sign with RFC 9421, one set an owner:
`GET /.well-known/jwks/{app}.json`, an app's own, so that another app's key cannot sign as
its relay; `GET /.well-known/jwks.json`, the operator's own. Open to anyone: a public key is
no secret, and a receiver fetches them without any credential of the relay's."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from receiver.downstreams.api import Downstreams
from receiver.downstreams.key_sets import Owner
from receiver.kernel.errors import NotFound
from receiver.kernel.http.models import Answer, ErrorAnswer
from receiver.kernel.http.openapi import answer, described
from receiver.keys.guard import Keyring
from receiver.keys.webhooks_api import WebhookKeys

PATH = "/.well-known/jwks.json"
APP_PATH = "/.well-known/jwks/{app}.json"
# A receiver meeting a `keyid` it has not seen fetches again (a new key after a rotation).
CACHE_SECONDS = 300
AppName = Annotated[str, Path(min_length=1, max_length=200, description="The app's name.")]


class PublicKey(Answer):
    kty: str = Field(description="`OKP`.")
    crv: str = Field(description="`Ed25519`.")
    x: str = Field(description="The public key, base64url (RFC 8037).")
    kid: str = Field(description="Its RFC 7638 thumbprint: the signatures' `keyid`.")
    alg: str = Field(description="`EdDSA`.")
    use: str = Field(description="`sig`.")


class KeySet(Answer):
    keys: list[PublicKey]


async def _answer(
    directory: Downstreams, owner: Owner, more: Sequence[dict[str, str]] = ()
) -> Response:
    """`owner`'s set; `more`: the keys its tasks' own webhooks are signed with."""
    body = await directory.key_set(owner, time.time())
    if more:
        found = json.loads(body)["keys"]
        kids = {key["kid"] for key in found}
        found += [key for key in more if key["kid"] not in kids]
        body = json.dumps({"keys": found}, separators=(",", ":")).encode()
    headers = {"Cache-Control": f"public, max-age={CACHE_SECONDS}"}
    return Response(body, media_type="application/json", headers=headers)


router = APIRouter(tags=["downstreams"])
_SAID = (
    " `kid` being the signatures' `keyid`: during a rotation's overlap, both keys of the"
    " downstream. Cached for five minutes."
)


@router.get(
    PATH,
    summary="The keys of the operator's RFC 9421 signatures",
    description=described(
        "A JSON Web Key Set of the ed25519 public keys that the operator's own downstreams"
        " with `signing: rfc9421` (the config file's, and those made for no app) are signed"
        " with; an app's are at /.well-known/jwks/{app}.json." + _SAID,
        auth="none",
    ),
    responses={200: answer("The key set.", KeySet)},
)
async def jwks(directory: Downstreams) -> Response:
    return await _answer(directory, None)


@router.get(
    APP_PATH,
    summary="The keys of an app's RFC 9421 signatures",
    description=described(
        "A JSON Web Key Set of the ed25519 public keys that the app's own downstreams with"
        " `signing: rfc9421` are signed with, and the app's tasks' own webhooks (`v1a`), and"
        " no other app's." + _SAID,
        auth="none",
    ),
    responses={
        200: answer("The key set.", KeySet),
        400: answer("No name an app could have (over 200 characters).", ErrorAnswer),
        404: answer("No app of that name.", ErrorAnswer),
    },
)
async def app_jwks(
    directory: Downstreams, keys: Keyring, webhook_keys: WebhookKeys, app: AppName
) -> Response:
    try:
        found = await keys.app(app)
    except NotFound:
        raise NotFound(f"no app named {app!r}") from None
    signing = await webhook_keys.known(found.id)
    more = signing.public_keys(time.time()) if signing is not None else []
    return await _answer(directory, found.id, more)
