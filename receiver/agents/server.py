"""`/mcp`: the relay as a Model Context Protocol server over Streamable HTTP, on the SDK's
low-level `Server` (the only module that imports `mcp`). Every request is authenticated by
its bearer API key before the SDK sees it, so a key revoked mid-session is refused at its
next request; the SDK's session owner check keeps one key out of another's session.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    event_to_notification,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from receiver.agents import ToolParts, resources, shape, task_handles
from receiver.agents.bounds import InFlight, SessionLedger, key_of, stream_place
from receiver.agents.calls import Outcome, call
from receiver.agents.listen import Listening
from receiver.agents.tools import BY_NAME, schemas, tools_for
from receiver.agents.watch import follow, subscriber_name, task_view
from receiver.agents.wire import Answer, MemoryGivenBack, quiet_client_gone, replay
from receiver.kernel.errors import (
    BodyTooLarge,
    BodyTooSlow,
    LimitReached,
    Overloaded,
    RelayError,
)
from receiver.kernel.http.body import read_body
from receiver.keys.guard import bearer
from receiver.keys.rules import Caller
from receiver.stream.caps import Holder

CALLER = "receiver.caller"  # where the authenticated caller rides on the request's scope
# A key's bodies in flight: two of the largest at once. Its requests in flight: as many
# streams as it may hold (listens and waits are requests held open), and 16 more calls.
IN_FLIGHT_BYTES = 2 * shape.MAX_BODY_BYTES
CALLS_BESIDE_STREAMS = 16
INSTRUCTIONS = (
    "The relay submits Runway generations (video, image, audio) through its queue under this"
    " key's limits, follows them, copies the renders and shares them. Submit with"
    " submit_task, then wait_for_task until it ends; share_task gives a link for a person."
    " Read relay://kinds for what each kind makes and takes."
)
JSON = "application/json"
NOT_FOUND = -32002  # the protocol's code for an unknown resource


class TaskHandleParams(types.RequestParams):
    """`tasks/get` and `tasks/cancel` (the tasks extension): the task's id, checked by the
    tool doing the work (the SDK's own check would refuse it with no words)."""

    task_id: Annotated[Any, Field(alias="taskId")] = None


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    caller = ctx.request.scope.get(CALLER) if ctx.request is not None else None
    if not isinstance(caller, Caller):
        raise MCPError(types.INVALID_REQUEST, "not authenticated")
    return caller


def _result(outcome: Outcome) -> types.CallToolResult:
    text = outcome.error or json.dumps(outcome.data, ensure_ascii=False)
    content: list[types.ContentBlock] = [types.TextContent(text=text)]
    for image in outcome.images:
        data = base64.b64encode(image.data).decode()
        content.append(types.ImageContent(data=data, mime_type=image.content_type))
    return types.CallToolResult(
        content=content, structured_content=outcome.data, is_error=outcome.error is not None
    )


class AgentsDoor:
    """The ASGI app mounted at /mcp, and what must run beside it (`around`)."""

    def __init__(self, parts: ToolParts) -> None:
        self.parts = parts
        # (MCP session id, task id) -> the task announcing that task's changes to it.
        self._follows: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.server: Server[Any] = Server(
            "runway-relay",
            version=version("runway-relay"),
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=self._listen,
        )
        # Registered as any method: a tools/call answer may be a task handle (below), a
        # shape the tasks extension adds and the constructor's typing does not know.
        self.server.add_request_handler("tools/call", types.CallToolRequestParams, self._call_tool)
        # The tasks extension, advertised in `server/discover`: handles are given in the
        # 2026 era only (_wants_handles), its methods answer a key of either era.
        self.server.extensions = {task_handles.EXTENSION: {}}
        self.server.add_request_handler("tasks/get", TaskHandleParams, self._task_get)
        self.server.add_request_handler("tasks/cancel", TaskHandleParams, self._task_cancel)
        # No DNS-rebinding check: nothing here rides on ambient credentials (cookies); every
        # request carries its bearer key.
        mcp = parts.settings.mcp
        self.manager = StreamableHTTPSessionManager(
            self.server,
            max_request_body_size=shape.MAX_BODY_BYTES,
            session_idle_timeout=mcp.session_idle_seconds,
        )
        self.sessions = SessionLedger(mcp.max_sessions_per_key, mcp.session_idle_seconds)
        streams = parts.settings.server.max_streams_per_client
        self.in_flight = InFlight(streams + CALLS_BESIDE_STREAMS, IN_FLIGHT_BYTES)
        self.memory = MemoryGivenBack()
        quiet_client_gone()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The SDK's session manager, running (receiver/agents/__init__.py holds it open
        until the application's lifespan ends); then the follows of its sessions end."""
        async with self.manager.run():
            try:
                yield
            finally:
                for task in self._follows.values():
                    task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        asgi = (scope, receive, send)
        try:
            caller = await self.parts.keys.caller(bearer(request))
        except RelayError as exc:
            await _refuse(503, f"unavailable: {exc.detail}", *asgi)
            return
        if caller is None:
            detail = "not authenticated: missing, wrong or revoked API key"
            await _refuse(401, detail, *asgi)
            return
        token = AccessToken(
            token="-",  # the key itself stays out of every structure that could be shown
            client_id=caller.key_id or "admin-token",
            scopes=sorted(caller.scopes),
        )
        scope["user"] = AuthenticatedUser(token)
        scope[CALLER] = caller
        session = request.headers.get("mcp-session-id")
        if request.method == "DELETE" and session:
            self._stop_follows(session)
        try:
            if request.method == "POST":
                await self._post(caller, session, request, send)
            else:
                await self._bounded(caller, session, scope, receive, send)
        except (LimitReached, Overloaded) as exc:
            retry = {"Retry-After": str(exc.retry_after)}
            status = 429 if isinstance(exc, LimitReached) else 503
            await _refuse(status, exc.detail, scope, receive, send, retry)

    async def _post(
        self, caller: Caller, session: str | None, request: Request, send: Send
    ) -> None:
        """A request with a body: counted in its key's requests in flight, its body read
        under the door's bounds (shape.py) before the SDK parses anything of it."""
        scope, receive = request.scope, request.receive
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else None
        # Not declared: held as the most it may be, until read. Declared over the bound:
        # refused, what is read of it dropped: none of it held.
        held = (
            shape.MAX_BODY_BYTES if size is None else (0 if size > shape.MAX_BODY_BYTES else size)
        )
        with self.in_flight.request(key_of(caller), held) as settle:
            # The SDK reads a body with no deadline: the relay's one capped reader reads
            # it, under the door's cap on size and the API's on time.
            timeout = self.parts.settings.server.body_timeout_seconds
            try:
                body = await read_body(request, shape.MAX_BODY_BYTES, timeout)
            except ClientDisconnect:
                return
            except BodyTooLarge:
                await _refuse(413, shape.body_refusal(size), scope, receive, send)
                return
            except BodyTooSlow as exc:
                await _refuse(408, exc.detail, scope, receive, send)
                return
            settle(len(body))
            try:
                shape.check(body)
            except shape.Refused as exc:
                await _refuse(400, exc, scope, receive, send)
                return
            with self.memory.after(len(body)):
                await self._bounded(caller, session, scope, replay(body, receive), send)

    async def _bounded(
        self, caller: Caller, session: str | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The SDK's answer, within the key's share: its sessions, and its streams' places."""
        key, answer = key_of(caller), Answer(send)
        if session is None and scope["method"] == "POST" and _handshake_era(scope):
            self.sessions.admit(key)  # a request without a session opens one
            try:
                await self._handle(scope, receive, answer)
            finally:
                self.sessions.opened(key, answer.session if answer.ok else None)
            return
        if session is not None:
            self.sessions.begin(key, session)
        try:
            if scope["method"] == "GET":  # a stream the server sends on, held open
                with stream_place(self.parts.changes, caller):
                    await self._handle(scope, receive, answer)
            else:
                await self._handle(scope, receive, answer)
        finally:
            if session is not None:
                gone = answer.status == 404 or (scope["method"] == "DELETE" and answer.ok)
                self.sessions.end(key, session, gone=gone)

    async def _handle(self, scope: Scope, receive: Receive, answer: Answer) -> None:
        try:
            await self.manager.handle_request(scope, receive, answer)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            if not answer.done:
                raise
            # The session ended (its client's DELETE) while this request was being handed
            # to it, after its answer went out: nothing is lost, nothing to tell anyone.
            self.parts.log.debug("mcp.session_gone_mid_request", method=scope["method"])

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        every = schemas()
        tools = [
            types.Tool(
                name=tool.name,
                description=tool.description,
                input_schema=every[tool.name],
                annotations=types.ToolAnnotations(
                    read_only_hint=tool.read_only, open_world_hint=tool.name == "submit_task"
                ),
            )
            for tool in tools_for(_caller(ctx))
        ]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | dict[str, Any]:
        caller = _caller(ctx)
        outcome = await self._tool(caller, params.name, params.arguments or {}, ctx)
        self.parts.log.info(
            "mcp.tool", tool=params.name, key=caller.name, refused=outcome.error is not None
        )
        if params.name == "submit_task" and outcome.error is None and _wants_handles(ctx):
            # A client of the tasks extension follows the task with `tasks/get`: its
            # handle, read back from the store under the key's own rules, as get_task does.
            view = await self._tool(caller, "get_task", {"task_id": outcome.data["id"]}, ctx)
            if view.error is None:
                return {"resultType": "task", **task_handles.handle(view.data)}
        return _result(outcome)

    async def _tool(
        self,
        caller: Caller,
        name: str,
        arguments: dict[str, Any],
        ctx: ServerRequestContext[Any, Any],
    ) -> Outcome:
        try:
            progress = ctx.session.report_progress
            return await call(self.parts, caller, name, arguments, progress)
        except Exception:
            self.parts.log.exception("mcp.tool_failed", tool=name, key=caller.name)
            return Outcome({"error": "internal"}, error="unexpected error; it has been logged")

    async def _task_get(
        self, ctx: ServerRequestContext[Any, Any], params: TaskHandleParams
    ) -> dict[str, Any]:
        """`tasks/get`: the task now, with its result once completed; through the
        get_task tool, so under the same scope and key as it (another's task: no such)."""
        outcome = await self._task_tool(ctx, "tasks/get", "get_task", params.task_id)
        task = task_handles.handle(outcome.data)
        if task["status"] == "completed":
            task["result"] = _result(outcome).model_dump(
                by_alias=True, mode="json", exclude_none=True
            )
        elif task["status"] == "failed":
            task["error"] = {"code": types.INTERNAL_ERROR, "message": task["statusMessage"]}
        return task

    async def _task_cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskHandleParams
    ) -> dict[str, Any]:
        """`tasks/cancel`: as the cancel_task tool, under its scope; acknowledged empty."""
        await self._task_tool(ctx, "tasks/cancel", "cancel_task", params.task_id)
        return {}

    async def _task_tool(
        self, ctx: ServerRequestContext[Any, Any], method: str, tool: str, task_id: Any
    ) -> Outcome:
        """A tasks/* method done by `tool`, under its scope; a refusal as the method's error,
        in its words (an id is echoed only once the tool found it a valid one)."""
        caller, scope = _caller(ctx), BY_NAME[tool].scope
        if not caller.allows(scope):
            raise MCPError(types.INVALID_PARAMS, f"{method}: this key lacks the scope {scope}")
        outcome = await self._tool(caller, tool, {"task_id": task_id}, ctx)
        if outcome.error is None:
            return outcome
        if outcome.data.get("error") == "invalid_arguments":
            detail = str(outcome.data["detail"]).replace("task_id", "taskId")
            raise MCPError(types.INVALID_PARAMS, f"{method}: {detail}")
        raise MCPError(types.INVALID_PARAMS, f"task {task_id}: {outcome.error}")

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        _caller(ctx)
        listed = [
            types.Resource(uri=r.uri, name=r.name, description=r.description, mime_type=JSON)
            for r in resources.STATIC
        ]
        return types.ListResourcesResult(resources=listed)

    async def _list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        _caller(ctx)
        template = types.ResourceTemplate(
            uri_template=resources.TASK_TEMPLATE,
            name="task",
            description="One of your tasks now (as get_task); subscribe to hear of each change.",
            mime_type=JSON,
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = _caller(ctx)
        task_id = resources.task_id_of(params.uri)
        if task_id is None:
            text = resources.static(params.uri)
            if text is None:
                raise MCPError(NOT_FOUND, f"no resource {params.uri}")
            return _read(params.uri, text)
        if not caller.allows("tasks:read"):
            raise MCPError(NOT_FOUND, f"no resource {params.uri}")
        view = await self._visible(caller, task_id, params.uri)
        return _read(params.uri, json.dumps(view, ensure_ascii=False))

    async def _visible(self, caller: Caller, task_id: str, uri: str) -> dict[str, Any]:
        try:
            return await task_view(self.parts.store, caller, task_id)
        except RelayError:
            raise MCPError(NOT_FOUND, f"no resource {uri}") from None

    async def _subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        caller, uri = _caller(ctx), params.uri
        task_id = resources.task_id_of(uri)
        session = ctx.request.headers.get("mcp-session-id") if ctx.request else None
        if task_id is None or session is None or not caller.allows("tasks:read"):
            raise MCPError(NOT_FOUND, f"no resource to subscribe to at {uri}")
        await self._visible(caller, task_id, uri)
        key = (session, task_id)
        if key not in self._follows:
            notify = ctx.session

            async def announce() -> None:
                await notify.send_resource_updated(uri)

            self._follows[key] = asyncio.create_task(self._follow(caller, task_id, announce, key))
        return types.EmptyResult()

    async def _follow(
        self, caller: Caller, task_id: str, announce: Callable[[], Any], key: tuple[str, str]
    ) -> None:
        try:
            await follow(self.parts.store, self.parts.changes, caller, task_id, announce)
        except Exception as exc:  # the session went away, or the store did: stop following
            self.parts.log.info("mcp.follow_ended", task_id=task_id, reason=type(exc).__name__)
        finally:
            self._follows.pop(key, None)

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        _caller(ctx)
        task_id = resources.task_id_of(params.uri)
        session = ctx.request.headers.get("mcp-session-id") if ctx.request else None
        if task_id is not None and session is not None:
            task = self._follows.pop((session, task_id), None)
            if task is not None:
                task.cancel()
        return types.EmptyResult()

    async def _listen(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """One `subscriptions/listen` stream (the 2026 era), as the SDK's ListenHandler serves
        one, holding a live stream's place under the key's cap."""
        caller, asked = _caller(ctx), params.notifications
        if ctx.request_id is None:
            raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
        uris = asked.resource_subscriptions or ()
        listening = Listening(caller, uris, asked.resources_list_changed is True)
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}
        hub = self.parts.changes
        try:
            sub = hub.subscribe(subscriber_name(caller), Holder(key_id=caller.key_id))
        except Overloaded as exc:
            raise MCPError(types.INTERNAL_ERROR, exc.detail) from None
        try:
            honored = types.SubscriptionFilter(
                resources_list_changed=listening.task_list or None,
                resource_subscriptions=listening.uris or None,
            )
            ack = types.SubscriptionsAcknowledgedNotificationParams(
                notifications=honored, _meta=meta
            )
            await _stamped(ctx, types.SubscriptionsAcknowledgedNotification(params=ack))
            while sub.open and (change := await sub.queue.get()) is not None:
                heard = listening.hear(change)
                events: list[ServerEvent] = [ResourceUpdated(uri) for uri in heard.updated]
                if heard.list_changed:
                    events.append(ResourcesListChanged())
                for event in events:
                    await _stamped(ctx, event_to_notification(event, meta))
        finally:
            hub.unsubscribe(sub)
        if sub.dropped:
            detail = "this listen fell too far behind: listen again and read your tasks again"
            raise MCPError(types.INTERNAL_ERROR, detail)
        self.parts.log.info("mcp.listen_ended", key=caller.name, revoked=sub.ended)
        return types.SubscriptionsListenResult(_meta=meta)

    def _stop_follows(self, session: str) -> None:
        for key in [k for k in self._follows if k[0] == session]:
            self._follows.pop(key).cancel()


def _wants_handles(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client declared the tasks extension (2026 era only: a
    handshake-era client could not read a task handle)."""
    if ctx.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return task_handles.wants_handles(capabilities.extensions if capabilities else None)


def _handshake_era(scope: Scope) -> bool:
    """Whether the SDK serves this request in the handshake era, where a request without a
    session opens one (a 2026-era request carries none and opens none)."""
    header = MCP_PROTOCOL_VERSION_HEADER.encode()
    named = [value.decode("latin-1") for name, value in scope["headers"] if name == header]
    return not named or named[0] in HANDSHAKE_PROTOCOL_VERSIONS


async def _stamped(
    ctx: ServerRequestContext[Any, Any], notification: types.ServerNotification
) -> None:
    """A frame of the listen stream `ctx` answers."""
    await ctx.session.send_notification(notification, related_request_id=ctx.request_id)


def _read(uri: str, text: str) -> types.ReadResourceResult:
    contents = types.TextResourceContents(uri=uri, mime_type=JSON, text=text)
    return types.ReadResourceResult(contents=[contents])


async def _refuse(
    status: int,
    detail: str | shape.Refused,
    scope: Scope,
    receive: Receive,
    send: Send,
    headers: dict[str, str] | None = None,
) -> None:
    """A refusal before the SDK: a JSON-RPC error the official client shows as it is (for a
    request past the door's bounds, with its id when it was read)."""
    error: dict[str, Any] = {"code": types.INVALID_REQUEST, "message": detail}
    request_id = None
    if isinstance(detail, shape.Refused):
        code = types.INVALID_PARAMS if detail.in_params else types.INVALID_REQUEST
        error = {"code": code, "message": detail.detail}
        request_id = detail.request_id
    body = {"jsonrpc": "2.0", "id": request_id, "error": error}
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="runway-relay"'}
    await JSONResponse(body, status, headers=headers)(scope, receive, send)
