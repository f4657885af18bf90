"""The AsyncAPI 3 document of what the relay sends: the webhook channel and each broker
downstream's channel (its subject, topic, stream or routing key, with the template's
placeholders as parameters), every event type as a message with its JSON Schema.

Built from the event models (receiver/catalog/events.py) and the downstreams in use; a
server shows a host and port only, never a credential or a path.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from receiver.catalog.events import MODELS
from receiver.config import Downstream
from receiver.destinations.provider import Binding
from receiver.destinations.publishing import PLACEHOLDERS, placeholders
from receiver.destinations.registry import BINDING_PLACES, addresses
from receiver.lifecycle.rules.task import KIND_NAMES, STATES
from receiver.outbox.rules.event_types import ALERT_TYPES, DESCRIPTIONS, EVENT_TYPES, example

_REF = "#/components/schemas/{model}"
_SIGNATURE_HEADERS = {
    "type": "object",
    "properties": {
        "webhook-id": {"type": "string", "description": "One per delivery, kept on retries."},
        "webhook-timestamp": {"type": "string", "description": "Epoch seconds when signed."},
        "webhook-signature": {
            "type": "string",
            "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256>` of"
            " `id.timestamp.body`, over the body as sent; space-separated during a rotation.",
        },
        "webhook-type": {"type": "string", "description": "The event's type (brokers)."},
        "content-digest": {
            "type": "string",
            "description": "`signing: rfc9421`: `sha-256=:<base64>:` of the body (RFC 9530).",
        },
        "signature-input": {
            "type": "string",
            "description": "`signing: rfc9421`: RFC 9421's, `sig1` (and `sig2` during a"
            " rotation) over `@method`, `@target-uri`, `content-type`, `content-digest` and"
            " `webhook-id`, with `created` and `expires` (five minutes on); `keyid` names a key"
            " of the app's /.well-known/jwks/{app}.json (the operator's own downstreams':"
            " /.well-known/jwks.json).",
        },
        "signature": {"type": "string", "description": "`signing: rfc9421`: the signatures."},
        "ce-specversion": {
            "type": "string",
            "description": "A downstream's `envelope`: `cloudevents` sends a CloudEvent 1.0 in"
            " structured mode (content type `application/cloudevents+json`, the event's `data`"
            " above as its `data`); `cloudevents-binary` sends that data as the body and the"
            f" attributes as `ce-` headers ({BINDING_PLACES}): `id` the event's id (one on every"
            " downstream and retry), `source` `delivery.cloudevents_source` or the relay's"
            " public URL (an app's: `/apps/<app>` after it), `type`"
            " `delivery.cloudevents_type_prefix` (`com.runway-relay.`) and the event's type,"
            " `time`, `subject` the task id.",
        },
    },
}
_PARAMETERS = {
    "state": {
        "description": "The task's state; `progress` for a progress event.",
        "enum": [*STATES, "progress", "downstream.disabled", *ALERT_TYPES],
    },
    "kind": {"description": "The kind of task.", "enum": [*KIND_NAMES, "relay"]},
    "task_id": {"description": "The relay's id of the task."},
}


def _key(name: str) -> str:
    """A downstream's name as an AsyncAPI key (letters, digits, `_` and `-`)."""
    return "downstream-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        schema = MODELS[event_type].model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        name = "".join(part.title() for part in event_type.split("."))  # TaskQueued
        schemas[f"{name}Event"] = schema
        messages[name] = {
            "name": event_type,
            "title": event_type,
            "summary": DESCRIPTIONS[event_type],
            "contentType": "application/json",
            "headers": _SIGNATURE_HEADERS,
            "payload": {"$ref": _REF.format(model=f"{name}Event")},
            "examples": [{"name": "example", "payload": example(event_type)}],
        }
    return {"schemas": schemas, "messages": messages}


def _server(d: Downstream, protocol: str, named: str | None = None) -> dict[str, Any]:
    parts = urlsplit(d.url)
    host = parts.hostname or "unknown"
    host = f"[{host}]" if ":" in host else host
    return {
        "host": named or (f"{host}:{parts.port}" if parts.port else host),
        "protocol": protocol,
        "description": f"Downstream {d.name!r}.",
    }


def _channel(d: Downstream, binding: Binding, messages: dict[str, Any]) -> dict[str, Any]:
    template, setting = str(binding.address), binding.setting
    used = placeholders(template) & PLACEHOLDERS
    channel: dict[str, Any] = {
        "address": template,
        "title": d.name,
        "description": f"Downstream {d.name!r}: {setting} `{template}`, each"
        " placeholder filled from the event.",
        "servers": [{"$ref": f"#/servers/{_key(d.name)}"}],
        "messages": messages,
    }
    if used:
        channel["parameters"] = {name: _PARAMETERS[name] for name in sorted(used)}
    if binding.channel is not None:
        channel["bindings"] = binding.channel
    return channel


def document(downstreams: list[Downstream], version: str) -> dict[str, Any]:
    components = _components()
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in components["messages"]}
    servers: dict[str, Any] = {}
    channels: dict[str, Any] = {
        "webhook": {
            "address": None,
            "title": "Webhooks",
            "description": "Each `webhook` downstream's URL, and each task's own `webhook`:"
            " a POST of the event as JSON, signed (Standard Webhooks). A transform may replace"
            " the body; the signature is over the body as sent.",
            "messages": refs,
        }
    }
    hooks = []
    for d in sorted(downstreams, key=lambda d: d.name):
        if (binding := addresses(d).binding) is None:
            continue
        servers[_key(d.name)] = _server(d, binding.protocol, binding.host)
        if binding.shared:  # a server of the one `webhook` channel
            hooks.append({"$ref": f"#/servers/{_key(d.name)}"})
        else:
            channels[_key(d.name)] = _channel(d, binding, refs)
    if hooks:
        channels["webhook"]["servers"] = hooks
    operations = {
        f"send-{name}": {
            "action": "send",
            "title": f"Events to {channel['title']}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{m}"} for m in refs],
        }
        for name, channel in channels.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "runway-relay events",
            "version": version,
            "description": "What the relay sends its downstreams: one message per event"
            " type, each with its JSON Schema (GET /v1/event-types lists them too).",
        },
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": channels,
        "operations": operations,
        "components": components,
    }
