"""entity_hash: the same digest as the json.dumps canonical form it always had, whichever encoder writes it."""

import dataclasses
import datetime
import enum
import hashlib
import json
import math
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from syncjobs.engine.diff import _orjson_writes_as_json, entity_hash


def reference_hash(resource: dict[str, Any]) -> str:
    """entity_hash as it was before orjson: the stored hashes were made by this."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Text(str):
    pass


class Number(int):
    pass


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Kind(enum.StrEnum):
    USER = "user"


@dataclasses.dataclass
class Point:
    x: int


VALUES = [
    "",
    "plain",
    "Zoë Ærø ß 東京 😀",
    'quote " backslash \\ slash /',
    "controls \x00 \x01 \x08 \t \n \x0b \x0c \r \x1b \x1f \x7f \x80 \x9f",
    "separators \u2028 \u2029, bom \ufeff, private \ue000, last \U0010ffff",
    "0123",
    0,
    -1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**40,
    True,
    False,
    None,
    0.0,
    -0.0,
    1.0,
    0.1,
    1e-05,
    1e16,
    1e20,
    1.5e300,
    5e-324,
    math.nan,
    math.inf,
    -math.inf,
    Text("subclass of str"),
    Number(7),
    Colour.RED,
    Size.BIG,
    Kind.USER,
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 2, 29, 13, 5, tzinfo=datetime.UTC),
    datetime.time(1, 2),
    uuid.UUID(int=1),
    Decimal("1.10"),
    Point(1),
    (1, "two"),
    [],
    {},
    [1, [2, [3, {"z": None, "a": [True]}]]],
    {"b": 1, "a": 2, "B": 3, "é": 4, "😀": 5, "\uffff": 6, "\ue000": 7, "": 8, "a ": 9},
    {"nested": {"float": 1.5}},
    {"list": [Colour.RED]},
    {1: "int key"},
    {Text("k"): "str subclass key"},
    {None: "none key", True: "bool key"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_given_any_value_a_mapping_can_give_when_hashed_then_the_digest_is_the_json_one(value):
    resource = {"userName": "ada", "value": value, "list": [value], "nested": {"x": value}}
    assert outcome(entity_hash, resource) == outcome(reference_hash, resource)


def outcome(hash_function: Any, resource: dict[str, Any]) -> str:
    """The digest, or the error (type and message) hashing fails with."""
    try:
        return hash_function(resource)
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def test_given_keys_json_cannot_sort_when_hashed_then_it_fails_as_it_always_did():
    resource = {"x": {None: 1, True: 2}}
    with pytest.raises(TypeError, match="not supported between"):
        reference_hash(resource)
    assert outcome(entity_hash, resource) == outcome(reference_hash, resource)


def test_given_a_lone_surrogate_when_hashed_then_it_fails_as_it_always_did():
    resource = {"userName": "bad \udcff byte"}
    with pytest.raises(UnicodeEncodeError):
        reference_hash(resource)
    with pytest.raises(UnicodeEncodeError):
        entity_hash(resource)


def test_given_a_circular_resource_when_hashed_then_it_fails_as_it_always_did():
    resource: dict[str, Any] = {"userName": "ada"}
    resource["self"] = resource
    with pytest.raises(ValueError, match="Circular reference"):
        entity_hash(resource)


def test_given_deep_nesting_when_hashed_then_the_digest_is_the_json_one():
    deep: Any = "bottom"
    for _ in range(300):  # past orjson's 255 levels
        deep = {"d": [deep]}
    assert entity_hash({"x": deep}) == reference_hash({"x": deep})


@pytest.mark.parametrize(
    ("value", "fast"),
    [
        ({"a": "x", "b": [1, True, None, {"c": "d"}], "e": ()}, True),
        ({"a": 1.0}, False),
        ({"a": [{"b": math.nan}]}, False),
        ({"a": Colour.RED}, False),
        ({"a": Size.BIG}, False),
        ({"a": Text("x")}, False),
        # one level down (walked without a call) and deeper
        ({"a": {"b": True, "c": None, "d": 1, "e": "x"}, "f": ["x", 2, False]}, True),
        ({"a": {"b": 1.5}}, False),
        ({"a": ["x", Colour.RED]}, False),
        ({"a": ("x", Text("y"))}, False),
        ({"a": [{"b": [{"c": 1e-05}]}]}, False),
        ({"a": [[["x", None]]], "b": ({"c": ()},)}, True),
        ([{"a": 1}, ["b", 2.0]], False),
        ("x", True),
        (1.0, False),
    ],
)
def test_given_a_resource_then_only_plain_json_types_take_the_orjson_way(value, fast):
    assert _orjson_writes_as_json(value) is fast


def _random_text(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\x00", "\x1f", "\x7f", "é", "€", "😀", "\u2028", "\ufffe"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return _random_text(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, rng.randrange(-(10**30), 10**30)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([0.5, 1.0, 1e-7, 1e22, -2.5e-300, math.nan, math.inf, rng.uniform(-1e6, 1e6)])
    if kind == 4:
        return rng.choice([Colour.RED, Size.BIG, Kind.USER, datetime.date(2020, 1, 2), Text("t"), uuid.UUID(int=5)])
    if kind in (5, 6):
        return _random_text(rng) or "x"
    if kind == 7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 8:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))
    keys = [_random_text(rng) for _ in range(rng.randrange(0, 5))]
    if rng.random() < 0.05:  # json.dumps writes int keys as text; orjson refuses them
        keys = [rng.randrange(100) for _ in keys]
    return {key: _random_value(rng, depth + 1) for key in keys}


def test_given_random_resources_when_hashed_then_every_digest_is_the_json_one():
    rng = random.Random(13)
    by_orjson = 0
    for _ in range(3000):
        resource = {_random_text(rng): _random_value(rng) for _ in range(rng.randrange(1, 6))}
        assert entity_hash(resource) == reference_hash(resource), resource
        by_orjson += _orjson_writes_as_json(resource)
    assert by_orjson > 500  # both ways were compared


def test_given_threads_hashing_at_once_then_each_digest_is_the_json_one():
    # Given resources hashed from four threads at once (the hasher they copy from is shared)
    resources = [{"userName": f"u{i}@x", "n": i, "emails": [{"value": f"u{i}@x"}]} for i in range(2000)]
    with ThreadPoolExecutor(4) as pool:
        digests = list(pool.map(entity_hash, resources))
    # Then each is the digest of its own resource, and the same again when hashed alone
    assert digests == [reference_hash(r) for r in resources]
    assert len(set(digests)) == 2000


# Digests stored in entity state by earlier releases (the json.dumps canonical form): pinned as literals,
# so a change to the hash that also changed its reference above would still be caught.
PINNED = [
    (
        {
            "userName": "ada@example.com",
            "externalId": "E0001",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace",
            "title": "Engineer",
            "active": True,
            "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
        },
        "283f4b965ec93e1283ac22dd64071b75",
    ),
    (
        {"userName": "zoë.ærø@例え.jp", "displayName": 'Zoë 😀 \u2028 "q" \\ \n\t\x00', "active": False},
        "d852429b7fc6a983dbafae5e4ca12592",
    ),
    (
        {
            "userName": "n",
            "score": 1.5,
            "tiny": 1e-05,
            "big": 10**40,
            "neg": -(2**63) - 1,
            "none": None,
            "nested": [[{"b": [1, 2.0]}]],
        },
        "936200ef7812bf96d86d6be32b76174c",
    ),
]


@pytest.mark.parametrize(("resource", "digest"), PINNED)
def test_given_a_resource_hashed_by_an_earlier_release_when_hashed_now_then_the_digest_is_the_stored_one(
    resource, digest
):
    assert entity_hash(resource) == digest


@pytest.mark.parametrize(("resource", "digest"), PINNED[:2])
def test_given_a_resource_the_mapping_knows_plain_when_hashed_without_the_walk_then_the_digest_is_the_stored_one(
    resource, digest
):
    assert entity_hash(resource, json_plain=True) == digest


def test_given_a_plain_resource_orjson_refuses_when_hashed_without_the_walk_then_it_goes_the_json_way():
    resource = {"userName": "big", "n": 2**64, "k": {1: "int key"}}  # orjson refuses both: json.dumps writes them
    assert entity_hash(resource, json_plain=True) == reference_hash(resource)
