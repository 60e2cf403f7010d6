"""The faster engine writes what the jinja engine wrote: the same outcome lines, logs and entity-state
hashes, for the example job's mapping over a sample export with bad rows, in every run type."""

import hashlib
import json
from typing import Any

import pytest

from syncjobs.connectors.csv_s3 import CsvS3SourceConnector
from syncjobs.engine import shard
from syncjobs.engine.outcome_log import encode
from syncjobs.models.job import CsvS3Source, TraceLevel
from syncjobs.models.run import RunType
from syncjobs.models.state import EntityState
from syncjobs_local.sample_data import generate
from tests.bench import workload
from tests.unit.test_csv_source import Bytes

# The bench's mapping as examples/jobs/hr-to-scim.yaml writes it, with its commented-out extension
# attribute and scope.
MAPPING = {
    **workload.MAPPING,
    "userName": "{{ email | trim | lower }}",
    "emails": "{{ [{'value': email | trim | lower, 'type': 'work', 'primary': true}] }}",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "{{ department }}",
}
SCOPE = "{{ department != 'Contractors' and status != 'gone' }}"


def reference_hash(resource: dict[str, Any], json_plain: bool = False) -> str:
    """entity_hash as it was (json.dumps), whatever the mapping says it knows of the resource's types."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def records() -> list[Any]:
    config = CsvS3Source(type="csv_s3", bucket="bkt", key="k.csv", id_column="employee_id")
    src = CsvS3SourceConnector(config, Bytes(generate(300, bad=True).data))
    return [r for s in src.plan(1000) for r in src.read(s)]


def run(monkeypatch, fast: bool, run_type: RunType, states: dict[str, EntityState]) -> tuple[Any, ...]:
    mapping = shard.compile_mapping(MAPPING, SCOPE, "users")
    assert mapping._plain is not None
    assert mapping._scope_plain is not None
    if not fast:  # the engine as it was: jinja renders, json.dumps hashes, csv.reader reads every row
        mapping._plain = mapping._scope_plain = None
        monkeypatch.setattr(shard, "entity_hash", reference_hash)
        monkeypatch.setattr("syncjobs.connectors.csv_s3._unquoted_fields", lambda text, delimiter: None)
    result = shard.process_shard("r1", "users", run_type, mapping, records(), lambda ids: states, workload.NullTarget())
    monkeypatch.undo()
    logs = {o: encode(lines, TraceLevel.CONTENT, fmt) for o, lines in result.lines.items() for fmt in ("csv", "jsonl")}
    return result.lines, result.state_changes, result.seen, result.out_of_scope, result.failures, logs


@pytest.mark.parametrize("run_type", [RunType.READ, RunType.RESYNC, RunType.SIMULATE, RunType.VALIDATE])
def test_given_the_example_job_when_run_fast_then_lines_logs_and_hashes_are_the_jinja_engine_s(monkeypatch, run_type):
    # Given entity states from a first run, one of them changed since
    first = run(monkeypatch, False, RunType.READ, {})
    states = {s.entity_id: s for s in first[1]}
    changed = next(iter(states))
    states[changed] = EntityState(changed, states[changed].target_id, "0" * 32, "r0", "created")
    # When the same export runs through both engines, Then everything they give is the same
    assert run(monkeypatch, True, run_type, states) == run(monkeypatch, False, run_type, states)
    assert run(monkeypatch, True, RunType.READ, {}) == first
    assert len(first[1]) > 250  # most rows were written, with a hash
    assert len(first[4]) >= 5  # and the bad rows failed
