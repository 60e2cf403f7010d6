"""The bench's cost arithmetic (tests/bench/costs.py): DynamoDB request units by item size, SQS chunks,
Lambda GB-seconds, and the bill at list prices."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench import prices
from tests.bench.costs import (
    Usage,
    attribute_size,
    cost_usd,
    item_size,
    lambda_gb_seconds,
    per_million,
    query_units,
    read_units,
    sqs_requests,
    write_units,
)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes
        ({"N": "12345"}, 4),  # one byte per two digits, plus one
        ({"N": "-0.5"}, 2),
        ({"B": b"\x00\x01"}, 2),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
        ({"SS": ["a", "bc"]}, 3),
    ],
)
def test_an_attribute_is_billed_by_its_encoded_size(value: dict[str, Any], size: int) -> None:
    assert attribute_size(value) == size


def test_an_item_is_billed_by_its_names_and_values() -> None:
    # Given an item of two attributes / Then its size is both names and both values
    assert item_size({"pk": {"S": "job#1"}, "n": {"N": "10"}}) == 2 + 5 + 1 + 2
    assert item_size(None) == 0


def test_an_unknown_attribute_type_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'X'"):
        attribute_size({"X": 1})


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, False, 0.5), (100, False, 0.5), (4096, False, 0.5), (4097, False, 1.0), (4097, True, 2.0), (0, True, 1.0)],
)
def test_a_read_is_half_a_unit_per_started_4_kb_eventually_consistent(
    size: int, consistent: bool, units: float
) -> None:
    assert read_units(size, consistent) == units


def test_a_query_is_billed_by_the_summed_size_of_its_items() -> None:
    # Given 100 items of 200 bytes (20,000 bytes: five 4 KB units) / Then 2.5 units, not 100 half units
    assert query_units([200] * 100) == 2.5
    assert query_units([]) == 0.5


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1024, 1), (1025, 2), (400 * 1024, 400)])
def test_a_write_is_one_unit_per_started_kb(size: int, units: int) -> None:
    assert write_units(size) == units


@pytest.mark.parametrize(("payload", "requests"), [(0, 1), (65536, 1), (65537, 2), (256 * 1024, 4)])
def test_an_sqs_request_is_billed_per_64_kb_chunk(payload: int, requests: int) -> None:
    assert sqs_requests(payload) == requests


def test_lambda_duration_is_rounded_up_to_the_millisecond_and_scaled_by_memory() -> None:
    assert lambda_gb_seconds(1.0001, 1024) == pytest.approx(1.001)
    assert lambda_gb_seconds(2.0, 512) == pytest.approx(1.0)


def test_the_bill_multiplies_each_quantity_by_its_list_price() -> None:
    # Given a million read units, a million write units, a million Lambda requests and 1,000 GB-s
    usage = Usage(
        dynamodb_rru=1_000_000,
        dynamodb_wru=1_000_000,
        lambda_requests=1_000_000,
        lambda_gb_seconds=1000,
        s3_put_class=1000,
        s3_get_class=1000,
        sqs_requests=1_000_000,
        ses_mails=1000,
        secrets_manager_calls=10_000,
    )
    # When it is priced / Then each service costs its list price
    cost = cost_usd(usage)
    assert cost["dynamodb"] == pytest.approx(0.125 + 0.625)
    assert cost["lambda"] == pytest.approx(0.20 + 1000 * prices.LAMBDA_GB_SECOND_USD)
    assert cost["s3"] == pytest.approx(0.005 + 0.0004)
    assert cost["sqs"] == pytest.approx(0.40)
    assert cost["ses"] == pytest.approx(0.10)
    assert cost["secretsmanager"] == pytest.approx(0.05)


def test_the_issue_s_figure_one_batch_get_per_100_entities_costs_six_cents_per_million() -> None:
    # Given 1M entities read 100 per BatchGetItem, each item a half unit
    usage = Usage(dynamodb_rru=1_000_000 * read_units(300))
    assert cost_usd(usage)["dynamodb"] == pytest.approx(0.0625)


def test_usage_adds_and_subtracts_field_by_field() -> None:
    a, b = Usage(dynamodb_rru=2, ses_mails=3), Usage(dynamodb_rru=0.5, ses_mails=1)
    assert (a - b) == Usage(dynamodb_rru=1.5, ses_mails=2)
    assert (a + b).ses_mails == 4


def test_a_cost_per_million_scales_by_the_entities_and_refuses_none() -> None:
    assert per_million(0.01, 100_000) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="entities"):
        per_million(1.0, 0)
