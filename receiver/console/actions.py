"""The console's forms that change things: submit and cancel a task, replay deliveries,
disable, enable, make, edit, rotate the secret of and remove a downstream. Each asks to
confirm first (but submit), calls the admin API's own operation and redirects back with a
notice of what it did."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from receiver.console import endpoint_form, views
from receiver.console.core import Console, Form
from receiver.console.pages import Pages
from receiver.console.session import Session
from receiver.deliveries import actions as delivery_actions
from receiver.downstreams import manage as downstreams
from receiver.kernel.errors import Conflict, InvalidRequest
from receiver.kernel.net.request_calls import RequestCalls
from receiver.keys.rules import BOOTSTRAP, Caller
from receiver.outbox.rules.delivery import owner_of
from receiver.tasks import actions as task_actions
from receiver.tasks import submit

# What the form takes of the settings only AWS destinations have (the object key: S3's).
AWS_SETTINGS = ("region", "endpoint_url", "key")


class DownstreamForms:
    """The forms that change a downstream or replay a delivery, for whoever `caller` and
    `downstream` say (the console: the operator, any downstream; an app's portal: the app,
    its own)."""

    home = "/deliveries"  # where a change to a downstream sends the browser back

    def __init__(self, console: Console, calls: RequestCalls) -> None:
        self.console = console
        self.workers, self.rules = console.workers, console.delivery
        self.directory = console.directory
        self.calls = calls  # the bound on the calls to downstreams a form waits on

    async def downstream(self, request: Request, session: Session) -> tuple[str, str]:
        """The downstream the form's path names: as shown (`acme/hooks`), and as kept."""
        kept = await delivery_actions.known_downstream(self.directory, request.path_params["name"])
        return self.directory.shown_name(kept), kept

    def key_set(self, kept: str) -> str:
        """Where the receivers of `kept` fetch its public keys: its app's set, or the operator's."""
        owner = owner_of(kept)
        if owner is None:
            return "/.well-known/jwks.json"
        return f"/.well-known/jwks/{quote(self.directory.app_names.get(owner, owner))}.json"

    def secret_shown(
        self, name: str, kept: str, made: dict[str, Any], **more: Any
    ) -> dict[str, Any]:
        """What a page shows, this once, of a secret made or rotated for `kept` (`name`: as
        shown; `made`: the API's answer, with its `secret`); never an ed25519 private key."""
        return {
            "name": name,
            **more,
            "value": made.get("secret"),  # a `whsec_` secret, this once
            "key": made.get("public_key"),  # a `whpk_` public key
            "kid": made.get("key_id"),  # an rfc9421 key's id
            "jwks": self.key_set(kept),  # where its receivers fetch its public keys
        }

    def caller(self, session: Session) -> Caller:
        """Whom the forms act as: the operator, for every app."""
        return BOOTSTRAP

    def page_of(self, name: str) -> str:
        """Where a change to `name` (as shown) sends the browser back, unless its form says."""
        return self.home

    async def with_secret(
        self, request: Request, session: Session, shown: dict[str, Any]
    ) -> Response:
        """The page that shows a secret made or rotated, this once."""
        raise NotImplementedError

    async def replay(self, request: Request, session: Session, form: Form) -> Response:
        delivery_id = request.path_params["delivery_id"]
        asked = self.console.confirm(
            request, session, form, f"Send delivery {delivery_id} again now?", "Replay it"
        )
        if asked:
            return asked
        count = await delivery_actions.replay_delivery(
            self.workers, delivery_id, self.caller(session)
        )
        return self.console.done(request, form, "/deliveries", "replayed", count)

    async def disable(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = await self.downstream(request, session)
        question = f"Disable {name}? Its new deliveries will be held, not attempted."
        asked = self.console.confirm(request, session, form, question, "Disable it")
        if asked:
            return asked
        await delivery_actions.disable_downstream(self.workers, self.directory, kept)
        return self.console.done(request, form, self.page_of(name), "disabled")

    async def enable(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = await self.downstream(request, session)
        since = views.parse_when(form.get("recover_since"), "recover since")
        question = f"Enable {name}? What it held is queued again"
        if since is not None:
            question += f", and what went to dead-letter since {views.when(since)}"
        asked = self.console.confirm(request, session, form, question + ".", "Enable it")
        if asked:
            return asked
        queued = await delivery_actions.enable_downstream(self.workers, self.directory, kept, since)
        return self.console.done(request, form, self.page_of(name), "enabled", queued)

    async def validate(self, request: Request, session: Session, form: Form) -> Response:
        """A CloudEvents webhook asked again whether it allows the relay's events."""
        name, kept = await self.downstream(request, session)
        found = await delivery_actions.validate_downstream(
            self.workers, self.rules, self.directory, kept, self.calls, self.caller(session)
        )
        code = "validated" if found["allowed"] else "not_validated"
        if not found.get("answered", True):
            code = "not_answered"
        return self.console.done(request, form, self.page_of(name), code, found["queued"])

    async def rotate(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = await self.downstream(request, session)
        question = f"Rotate the secret of {name}? The old one keeps signing beside the new."
        asked = self.console.confirm(request, session, form, question, "Rotate it")
        if asked:
            return asked
        made, until = await downstreams.rotate_secret(
            self.workers, self.rules, self.directory, kept
        )
        shown = self.secret_shown(name, kept, made, rotated=True, until=until)
        return await self.with_secret(request, session, shown)

    async def edit(self, request: Request, session: Session, form: Form) -> Response:
        """Its settings changed from its edit form (no secret shown: one left empty is kept)."""
        name, kept = await self.downstream(request, session)
        try:
            change = endpoint_form.change_of(form)
            by = self.caller(session)  # an app's change is held to what its key may do
            await downstreams.change_downstream(
                self.workers, self.rules, self.directory, kept, change, by
            )
        except (InvalidRequest, Conflict) as exc:
            said = endpoint_form.in_words(exc.detail)
            return await self.refused_edit(request, session, name, said)
        return self.console.done(request, form, self.page_of(name), "changed")

    async def refused_edit(
        self, request: Request, session: Session, name: str, error: str
    ) -> Response:
        """The page again, saying why the change of `name` was refused."""
        raise NotImplementedError

    async def remove(self, request: Request, session: Session, form: Form) -> Response:
        name, kept = await self.downstream(request, session)
        question = f"Remove {name}? What it still has to deliver ends as dead letters."
        asked = self.console.confirm(request, session, form, question, "Remove it")
        if asked:
            return asked
        ended = await downstreams.remove_downstream(self.workers, self.directory, kept)
        return self.console.done(request, form, self.home, "removed", ended)


class Actions(DownstreamForms):
    """The console's forms: the operator's, on every downstream and task."""

    def __init__(self, console: Console, pages: Pages, calls: RequestCalls) -> None:
        super().__init__(console, calls)
        self.pages = pages

    async def with_secret(
        self, request: Request, session: Session, shown: dict[str, Any]
    ) -> Response:
        # a secret rotated: shown on its own card (one made: on the list)
        one = request.path_params.get("name")
        return await self.pages.deliveries(request, session, secret=shown, only=one)

    async def refused_edit(
        self, request: Request, session: Session, name: str, error: str
    ) -> Response:
        one = request.path_params.get("name")
        said = f"{name}: {error}"
        return await self.pages.deliveries(request, session, create_error=said, only=one)

    async def submit(self, request: Request, session: Session, form: Form) -> Response:
        names = ("kind", "prompt", "source", "model", "options")
        kept = {name: form.get(name, "").strip() for name in names}
        key = form.get("idempotency_key", "")[:255] or None
        try:
            payload = views.form_payload(
                kept["kind"], kept["prompt"], kept["source"], kept["model"], kept["options"]
            )
            result = await submit.submit(self.console.intake, payload, key)
        except InvalidRequest as exc:
            errors, general = views.field_errors(kept["kind"], exc.detail)
            return await self.pages.tasks(request, session, kept, errors, general)
        path = f"{self.console.root(request)}/tasks/{quote(result.task.id)}?done=submitted"
        return RedirectResponse(path, status_code=303)

    async def cancel_task(self, request: Request, session: Session, form: Form) -> Response:
        task_id = request.path_params["task_id"]
        asked = self.console.confirm(
            request, session, form, f"Cancel task {task_id} at CometAPI?", "Cancel the task"
        )
        if asked:
            return asked
        await task_actions.cancel_task(self.console.canceller, self.directory, task_id)
        return self.console.done(request, form, f"/tasks/{quote(task_id)}", "cancelled")

    async def replay_all(self, request: Request, session: Session, form: Form) -> Response:
        name = await delivery_actions.known_downstream(self.directory, request.path_params["name"])
        question = f"Send every dead letter of {name} again now?"
        asked = self.console.confirm(request, session, form, question, "Replay all dead letters")
        if asked:
            return asked
        count = await delivery_actions.replay_dead_letters(self.workers, self.directory, name)
        return self.console.done(request, form, "/deliveries", "replayed", count)

    async def create_downstream(self, request: Request, session: Session, form: Form) -> Response:
        """Make one; its secret is shown on the answer itself, this once (never in a URL)."""
        form, kept = endpoint_form.new_fields(form, AWS_SETTINGS)
        try:
            payload = endpoint_form.new_body(form, kept, AWS_SETTINGS)
            keys = self.console.keys
            made, secret = await downstreams.create_downstream(
                self.workers, self.rules, keys, self.directory, payload, BOOTSTRAP
            )
        except (InvalidRequest, Conflict) as exc:
            said = endpoint_form.in_words(exc.detail)
            return await self.pages.deliveries(request, session, kept=kept, create_error=said)
        name = made["name"]
        shown = self.secret_shown(name, name, made | {"secret": secret}, rotated=False)
        return await self.with_secret(request, session, shown)
