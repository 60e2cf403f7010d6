"""The engine workload of the bench: a shard of generated users through process_shard."""

from __future__ import annotations

import csv
import io
from typing import Any

from syncjobs.connectors.base import Claim, SourceRecord, Written
from syncjobs.engine.shard import ShardResult, compile_mapping, process_shard
from syncjobs.models.run import RunType
from syncjobs_local.sample_data import generate

MAPPING = {
    "userName": "{{ email | lower }}",
    "externalId": "{{ employee_id }}",
    "name.givenName": "{{ first_name }}",
    "name.familyName": "{{ last_name }}",
    "displayName": "{{ first_name }} {{ last_name }}",
    "title": "{{ title }}",
    "active": "{{ status == 'active' }}",
    "emails": "{{ [{'value': email | lower, 'type': 'work', 'primary': true}] }}",
}


class NullTarget:
    """A target that accepts everything at once: measures the engine, not a server."""

    name = "null"

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        return Written("id-" + resource["externalId"])

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        return Written(target_id)

    def delete(self, entity_type: str, target_id: str) -> None:
        return None


def parsed_rows(n: int) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(generate(n, bad=False).data.decode())))


def run_engine(rows: list[dict[str, str]]) -> ShardResult:
    records = [SourceRecord(i + 2, r["employee_id"], r) for i, r in enumerate(rows)]
    mapping = compile_mapping(MAPPING, None, "users")
    return process_shard("bench", "users", RunType.READ, mapping, records, lambda ids: {}, NullTarget())
