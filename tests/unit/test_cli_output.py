"""The CLI's pure pieces: --since values, text cells, and the paging token of a listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer
import typer.main

from syncjobs.store.index import BadToken, decode_token, encode_token
from syncjobs_cli.output import cell, parse_since

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-02-27T08:00:00Z", datetime(2026, 2, 27, 8, tzinfo=UTC)),
        ("2026-02-27T08:00:00+02:00", datetime(2026, 2, 27, 6, tzinfo=UTC)),
        ("2026-02-27", datetime(2026, 2, 27, tzinfo=UTC)),  # no zone: UTC
    ],
)
def test_since_is_an_iso_time_or_a_duration_back_from_now(given, meant):
    assert parse_since(given, NOW) == meant


@pytest.mark.parametrize("given", ["last tuesday", "7 days", "-3d", "7y", ""])
def test_since_refuses_anything_else_saying_what_it_takes(given):
    with pytest.raises(typer.BadParameter, match=r"neither an ISO time .* nor a duration"):
        parse_since(given, NOW)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (True, "true"),
        (3, "3"),
        (["a", "b"], "a,b"),
        ({"b": 1, "a": [2]}, '{"a":[2],"b":1}'),
        ("two\tcolumns\nand lines", "two columns and lines"),
    ],
)
def test_a_text_cell_is_one_tab_free_line(value, text):
    assert cell(value) == text


def test_a_paging_token_resumes_its_own_listing_only():
    last_key = {"pk": {"S": "RUN#r1"}, "sk": {"S": "RUN"}, "gsi1pk": {"S": "JOB#a"}, "gsi1sk": {"S": "2026#r1"}}
    token = encode_token(last_key)
    assert "=" not in token
    assert decode_token(token, "JOB#a") == last_key
    odd_shapes = (
        {"gsi1pk": {"S": "JOB#a"}},
        {**last_key, "extra": {"S": "x"}},
        {**last_key, "pk": {"N": "1"}},
        {**last_key, "sk": {"S": 5}},
    )
    bad_tokens = [token, "not-base64!", *(encode_token(shape) for shape in odd_shapes)]
    for key, bad in zip(["JOB#b"] + ["JOB#a"] * (len(bad_tokens) - 1), bad_tokens, strict=True):
        with pytest.raises(BadToken):
            decode_token(bad, key)


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every command under a (typer's own click) group, with its full name."""
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


def test_every_command_argument_and_option_has_help_and_a_metavar_that_names_the_value():
    from syncjobs_cli.main import app

    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 30
    for name, command in [("", root), *commands]:
        assert command.help, f"`syncjobs {name}` has no help"
        for param in command.params:
            assert getattr(param, "help", None), f"`syncjobs {name}`: {param.name} has no help"
            takes_value = param.param_type_name == "argument" or not getattr(param, "is_flag", False)
            if takes_value and param.name not in {"install_completion", "show_completion"}:
                assert (param.metavar or "").isupper(), f"`syncjobs {name}`: {param.name} has no metavar"
