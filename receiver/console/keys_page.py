"""The console's API keys page: every live key (its name, scopes, turns' weight, limits,
when made and last used; never the key), a form to make one, whose key is shown on the
answer page alone, once, and a button to revoke one. The same functions as the admin API
make and revoke them (receiver/keys/api.py, receiver/keys/bearers.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.console.core import Console, Form
from receiver.console.session import Session
from receiver.kernel.errors import Conflict, InvalidRequest
from receiver.keys.api import key_info, make_key
from receiver.keys.rules import SCOPES

FIELDS = ("name", "weight", "max_queued", "max_per_day")


def limits_of(form: Form) -> dict[str, int | str]:
    """The form's limits as the API takes them: an empty field is unset; what is not a whole
    number is passed on as typed, for the API's check to name it."""
    typed = {name: form.get(name, "").strip() for name in FIELDS[1:]}
    return {k: int(v) if v.isdigit() and len(v) <= 12 else v for k, v in typed.items() if v}


def key_payload(form: Form) -> dict[str, Any]:
    """What the form asks for, as the body of `POST /v1/keys`."""
    return {
        "name": form.get("name", "").strip(),
        "scopes": [s for s in SCOPES if form.get(f"scope.{s}")],
        **limits_of(form),
    }


class KeyPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def page(
        self,
        request: Request,
        session: Session,
        made: dict[str, Any] | None = None,
        kept: Form | None = None,
        create_error: str = "",
    ) -> Response:
        # Whose each key is: its app's name (a key made alone is its own app's).
        keys = [{**key_info(row), "app": row.app} for row in await self.console.keys.listed()]
        return self.console.render(
            request,
            "keys.html",
            session,
            status=422 if create_error else 200,
            nav="keys",
            keys=keys,
            scopes=SCOPES,
            made=made,
            kept=kept or {},
            create_error=create_error,
        )

    async def create(self, request: Request, session: Session, form: Form) -> Response:
        """Make one; its key is shown on the answer itself, this once (never in a URL)."""
        kept = {k: v for k, v in form.items() if k in FIELDS or k.startswith("scope.")}
        try:
            info, key = await make_key(self.console.keys, key_payload(form))
        except (InvalidRequest, Conflict) as exc:
            return await self.page(request, session, kept=kept, create_error=exc.detail)
        return await self.page(request, session, made={**info, "key": key})

    async def revoke(self, request: Request, session: Session, form: Form) -> Response:
        name = request.path_params["name"]
        question = (
            f"Revoke the key {name}? Every replica refuses it within seconds, and the share"
            " links it made stop opening."
        )
        asked = self.console.confirm(request, session, form, question, "Revoke it")
        if asked:
            return asked
        await self.console.keys.revoke(name)
        self.console.access_changed()  # its open streams end
        return self.console.done(request, form, "/keys", "revoked")
