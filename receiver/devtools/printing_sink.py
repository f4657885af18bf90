"""`receiver sink`: a downstream to wire against, which prints what arrives.

Each request, whatever its method (a transform may send PUT or PATCH), is printed and
answered `200`. Given the downstream's secret (`whsec_...`), it checks each signature as a
receiver must and answers `401` to one that fails, as a real receiver would.
"""

from __future__ import annotations

import hmac
import json
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.kernel.secrets.signing import parse_secret, signature

TOLERANCE_SECONDS = 5 * 60  # the Standard Webhooks libraries' default
# Every method a downstream may be sent or probed with: a route takes only those it names.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def verdict(secret: str | None, headers: dict[str, str], body: bytes, now: float) -> str:
    """`ok`, `not checked` (no secret given) or why the signature fails."""
    if secret is None:
        return "not checked (no --secret)"
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "").split()
    if not msg_id or not stamp.isdigit() or not signatures:
        return "BAD: webhook-id, webhook-timestamp or webhook-signature missing"
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return f"BAD: webhook-timestamp is {now - int(stamp):.0f} s away from now"
    expected = signature(secret, msg_id, int(stamp), body)
    if any(hmac.compare_digest(expected, given) for given in signatures):
        return "ok"
    return "BAD: no signature matches the secret"


def _shown(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body.decode("utf-8", errors="replace")


def run_printing_sink(port: int, host: str, secret: str | None) -> None:
    """Every request printed, checked against `secret` when given."""
    if secret is not None:
        parse_secret(secret)  # ValueError saying why it cannot work

    async def arrived(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = time.time()
        said = verdict(secret, headers, body, now)
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        print(f"--- {stamp}  {request.method} {request.url.path}  {len(body)} bytes")
        for name in ("webhook-id", "webhook-timestamp", "content-type", "traceparent"):
            if name in headers:
                print(f"{name}: {headers[name]}")
        print(f"signature: {said}")
        print(_shown(body), flush=True)
        if said.startswith("BAD"):
            return JSONResponse({"error": "signature does not verify"}, status_code=401)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", arrived, methods=METHODS)])
    checked = "checking signatures" if secret else "not checking signatures (no --secret)"
    print(f"receiver sink: listening on http://{host}:{port}/, {checked}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
