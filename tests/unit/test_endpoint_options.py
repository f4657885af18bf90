"""A downstream's options, declared once in its model (receiver/destinations/options.py): the
CLI's `downstreams create|change` flags and the console's and portal's form inputs are made
from it, and what a form submits is read back by the same list; an option added to a model
(a Literal, a bool) appears in each without another line."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Annotated, Any, Literal, cast

import click
import pytest
from pydantic import BaseModel, Field

from receiver.cli import managed
from receiver.config.downstream import ManagedDownstreamConfig
from receiver.console import endpoint_form, views
from receiver.console.core import environment
from receiver.destinations.options import CLI_ONLY, OPTION, offered

EXISTING = ("timeout", "signing", "max_in_flight", "max_per_second")


def _flags(command: click.Command) -> dict[str, click.Parameter]:
    return {str(p.name): p for p in command.get_params(click.Context(command))}


@pytest.mark.parametrize("command", [managed.create, managed.change])
def test_the_clis_flags_are_the_models_options(command: click.Command) -> None:
    flags = _flags(command)
    written = [o for p in flags.values() for o in (*p.opts, *p.secondary_opts)]
    assert len(written) == len(set(written))  # no option's flag shadows another
    for name in (*EXISTING, "idempotent"):  # a destination's own option: the CLI's too
        assert f"--{name.replace('_', '-')}" in flags[name].opts, name
    assert flags["max_per_second"].type == click.FLOAT
    assert flags["max_in_flight"].type == click.INT
    signing = flags["signing"].type
    assert isinstance(signing, click.Choice) and list(signing.choices) == [
        "hmac",
        "ed25519",
        "rfc9421",
    ]
    model = ManagedDownstreamConfig.model_fields["max_per_second"]
    assert cast(click.Option, flags["max_per_second"]).help == model.description
    assert cast(click.Option, flags["idempotent"]).secondary_opts == ["--no-idempotent"]


def test_the_clis_flags_are_sent_as_the_apis_fields() -> None:
    given = ["n", "https://example.invalid/h", "--max-per-second", "5", "--signing", "ed25519"]
    ctx = managed.create.make_context("create", [*given, "--no-idempotent"])
    body = managed._settings(dict(ctx.params))
    assert body == {"max_per_second": 5.0, "signing": "ed25519", "idempotent": False}


def _rendered(values: dict[str, Any]) -> str:
    shown = SimpleNamespace(shown_name=str, health=str, pulled_of=lambda _: False)
    env = environment(cast(Any, shown))
    return str(env.get_template("_endpoint.html").module.option_inputs(values))  # type: ignore[attr-defined]


def test_the_forms_offer_every_formats_options_worded_by_the_model() -> None:
    offered_names = [o.name for o in views.ENDPOINT_OPTIONS]
    assert set(EXISTING) <= set(offered_names) and "idempotent" not in offered_names  # kafka's
    page = _rendered({"max_per_second": 2.5})
    for name in EXISTING:
        assert f'name="{name}"' in page
        description = ManagedDownstreamConfig.model_fields[name].description
        assert description is not None and description in page
    assert re.search(r'<select name="signing">\s*<option value="hmac" selected>hmac', page)
    assert 'name="max_per_second" type="number" step="any" value="2.5"' in page
    assert 'name="timeout" type="number" step="any" value="" placeholder="10.0"' in page


def test_a_submitted_form_is_read_back_by_the_options() -> None:
    form = {"signing": "ed25519", "timeout": " ", "max_in_flight": "4", "other": "x"}
    assert endpoint_form.options_of(form) == {"signing": "ed25519", "max_in_flight": "4"}
    # An edit: an emptied option unset where it may be (max_per_second), else kept (timeout).
    change = endpoint_form.change_of({"timeout": "", "max_per_second": "", "max_in_flight": "2"})
    assert change == {"max_in_flight": "2", "max_per_second": None}


class _Next(BaseModel):
    """A model with the kinds of option the next one may be."""

    ordering: Annotated[
        Literal["task"] | None, Field(description="One task's events in order."), OPTION
    ] = None
    compressed: Annotated[bool, Field(description="Gzip the body."), OPTION] = False
    label: Annotated[str | None, Field(max_length=20, description="A label."), CLI_ONLY] = None
    unmarked: int = 0


def test_an_option_added_to_a_model_is_offered_as_its_kind_says() -> None:
    ordering, compressed, label = offered(_Next)
    assert (ordering.name, ordering.picks, ordering.flag) == (
        "ordering",
        ("", "task"),
        "--ordering",
    )
    assert (compressed.picks, compressed.shown(True), compressed.step) == (
        ("true", "false"),
        "true",
        None,
    )
    assert (label.forms, label.max_length, label.picks, label.label) == (False, 20, (), "Label")


def test_an_option_needs_a_description_and_a_plain_type() -> None:
    class Undescribed(BaseModel):
        bare: Annotated[int, OPTION] = 0

    class Listed(BaseModel):
        many: Annotated[list[str], Field(description="Many."), OPTION] = []

    with pytest.raises(TypeError, match="description"):
        offered(Undescribed)
    with pytest.raises(TypeError, match="a bool, a number"):
        offered(Listed)
