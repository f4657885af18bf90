"""`GET /.well-known/jwks.json`: the public keys of every downstream that signs with RFC 9421
(receiver/destinations/message_signatures.py), the config file's and those made through
the API, both keys during a rotation's overlap. Open to anyone: a public key is no secret,
and a receiver fetches them without any credential of the relay's."""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import APIRouter
from pydantic import Field
from starlette.responses import Response

from receiver.config import Downstream
from receiver.destinations.message_signatures import jwk, keys_of
from receiver.destinations.signing import secrets_in_use
from receiver.downstreams.api import Downstreams
from receiver.kernel.http.models import Answer
from receiver.kernel.http.openapi import answer, described, reply

PATH = "/.well-known/jwks.json"
# A receiver meeting a `keyid` it has not seen fetches again (a new key after a rotation).
CACHE_SECONDS = 300


class PublicKey(Answer):
    kty: str = Field(description="`OKP`.")
    crv: str = Field(description="`Ed25519`.")
    x: str = Field(description="The public key, base64url (RFC 8037).")
    kid: str = Field(description="Its RFC 7638 thumbprint: the signatures' `keyid`.")
    alg: str = Field(description="`EdDSA`.")
    use: str = Field(description="`sig`.")


class KeySet(Answer):
    keys: list[PublicKey]


def published(downstreams: Iterable[Downstream], now: float) -> list[dict[str, str]]:
    """Each key in use now by a downstream signing with rfc9421, once, by `kid`."""
    keys = {
        key["kid"]: key
        for d in downstreams
        if d.signing == "rfc9421"
        for key in map(jwk, keys_of(secrets_in_use(d, now)))
    }
    return [keys[kid] for kid in sorted(keys)]


router = APIRouter(tags=["downstreams"])


@router.get(
    PATH,
    summary="The keys of RFC 9421 signatures",
    description=described(
        "A JSON Web Key Set of the ed25519 public keys that downstreams with"
        " `signing: rfc9421` are signed with, `kid` being the signatures' `keyid`: during a"
        " rotation's overlap, both keys of the downstream. Cached for five minutes.",
        auth="none",
    ),
    responses={200: answer("The key set.", KeySet)},
)
async def jwks(directory: Downstreams) -> Response:
    answered = reply(KeySet, {"keys": published(directory.every.values(), time.time())})
    answered.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return answered
