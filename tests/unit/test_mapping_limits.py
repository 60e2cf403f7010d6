"""A mapping cannot run away with the worker: hostile expressions fail their entity with the limit they
hit (engine/mapping_limits.py), loops and macros are refused when a mapping is compiled, ordinary
expressions are untouched, and a shard of hostile entities stays far below the worker's MemorySize."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from syncjobs.engine.mapping import CompiledMapping, MappingError, check_expression

ROW = {"first_name": "Ada", "last_name": "Lovelace", "email": " Ada@Example.com "}
DOUBLING = "{% set s = 'xx' %}" + "{% set s = s ~ s %}" * 40 + "{{ s }}"
NESTED = "{% set v0 = 'x' %}" + "".join(f"{{% set v{i} = [v{i - 1}, v{i - 1}] %}}" for i in range(1, 25))
HOSTILE = {
    "range to a billion": ("{{ range(10**9) | list }}", "Range too big"),
    "string doubling": (DOUBLING, "'~' would make a value of 131,072 characters"),
    "repeat": ("{{ 'x' * 10**9 }}", "repeating a value would make a value of 1,000,000,000"),
    "list repeat": ("{{ [0] * 10**8 }}", "repeating a value"),
    "center filter": ("{{ 'x' | center(10**9) }}", "the filter 'center'"),
    "replace doubling": ("{{ 'x'" + " | replace('x', 'xx')" * 40 + " }}", "the filter 'replace'"),
    "indent": ("{{ ('x\n' * 30000) | indent(1000) }}", "the filter 'indent'"),
    "percent width": ("{{ '%0999999999d' % 1 }}", "%-formatting"),
    "format filter": ("{{ '%0999999999d' | format(1) }}", "the filter 'format'"),
    "str.format width": ("{{ '{:>999999999}'.format(1) }}", "str.format would make a value of 999,999,999"),
    "str.format nested width": ("{{ '{:{}}'.format(1, 10**9) }}", "a width taken from an argument"),
    "str method": ("{{ 'x'.ljust(10**9) }}", "str.ljust"),
    "power": ("{{ 2 ** 100000000 }}", "a power of 200,000,000 bits"),
    "join": ("{{ range(100000) | map('string') | join }}", "MappingLimit: "),
    "sorting": ("{{ range(60000) | list" + " | sort(reverse=true) | sort" * 40 + " | length }}", "s of CPU"),
    "lipsum": ("{{ lipsum(10**6) }}", "lipsum"),
    # found by the red team: a nested list that renders exponentially, translate, fills, many outputs
    "nested list to json": (NESTED + "{{ v24 | tojson }}", "a {% set %} value"),
    "nested list as text": (NESTED + "{{ v24 | string }}", "a {% set %} value"),
    "nested list returned": (NESTED + "{{ v22 }}", "a {% set %} value"),
    "translate": ("{% set a = 'a' * 60000 %}{{ a.translate({97: a}) }}", "str.translate is not allowed"),
    "batch fill": ("{{ [1] | batch(30000000, 'x') | list | length }}", "the filter 'batch'"),
    "slice": ("{{ [1] | slice(3000000) | list | length }}", "the filter 'slice'"),
    "many outputs": ("{% set a = 'a' * 60000 %}{% if 1 %}" + "{{ a }}" * 2000 + "{% endif %}", "MappingLimit: "),
    "escape chain": (
        "{% set a0 = '<' * 60000 %}"
        + "".join(f"{{% set a{i} = a{i - 1} | forceescape %}}" for i in range(1, 30))
        + "{{ a29 }}",
        "the filter 'forceescape'",
    ),
    "a method as the value": ("{% set d = {} %}{{ d.get }}", "not data"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_expression_fails_its_entity_with_the_limit(case):
    # Given a mapping with a hostile expression; When an entity is mapped; Then it fails naming the limit
    expression, reason = HOSTILE[case]
    mapping = CompiledMapping({"userName": "{{ email | trim | lower }}", "title": expression})
    with pytest.raises(MappingError) as failed:
        mapping.apply(ROW)
    assert failed.value.attribute == "title"
    assert reason in str(failed.value)


@pytest.mark.parametrize(
    "statement",
    [
        "{% for i in range(10) %}x{% endfor %}",
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{% filter upper %}x{% endfilter %}",
        "{% set s %}x{% endset %}{{ s }}",
    ],
)
def test_loops_and_macros_are_refused_when_a_mapping_is_compiled(statement):
    assert check_expression("title", statement)[0].startswith("title: {% ")
    with pytest.raises(MappingError, match="not allowed in a mapping"):
        CompiledMapping({"title": statement})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ first_name ~ ' ' ~ last_name }}", "Ada Lovelace"),
        ("{{ email | trim | lower | replace('example', 'corp') }}", "ada@corp.com"),
        ("{{ [first_name, last_name] | join(', ') }}", "Ada, Lovelace"),
        ("{{ first_name | center(9) }}", "   Ada   "),
        ("{{ '%05d' % 42 }}", "00042"),
        ("{{ 'x' * 3 }}", "xxx"),
        ("{% set s = first_name %}{% set s = s ~ s %}{{ s }}", "AdaAda"),
        ("{{ range(5) | map('string') | join }}", "01234"),
    ],
)
def test_ordinary_expressions_map_as_before(expression, expected):
    assert CompiledMapping({"title": expression}).apply(ROW)["title"] == expected


def test_a_shard_of_hostile_entities_stays_far_below_the_workers_memory(tmp_path: Path):
    # Given 50 entities mapped by every hostile expression, in a fresh process (its peak RSS is its own)
    script = textwrap.dedent(
        f"""
        import json
        from syncjobs.engine.shard import compile_mapping, process_shard
        from syncjobs.connectors.base import SourceRecord
        from syncjobs.models.run import RunType
        from tests.bench.workload import NullTarget
        hostile = {json.dumps({name: expr for name, (expr, _) in HOSTILE.items()})}
        mapping = {{"userName": "{{{{ email | trim | lower }}}}", "externalId": "{{{{ id }}}}"}}
        mapping.update({{"urn:x:" + name.replace(" ", "_"): expr for name, expr in hostile.items()}})
        rows = [{{"id": f"E{{i}}", "email": f"u{{i}}@example.com"}} for i in range(50)]
        records = [SourceRecord(i + 2, row["id"], row) for i, row in enumerate(rows)]
        result = process_shard("limits", "users", RunType.READ, compile_mapping(mapping, None, "users"),
                               records, lambda ids: {{}}, NullTarget())
        # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print(json.dumps({{"counts": result.counts()["users"], "peak_mb": int(hwm.split()[1]) / 1024}}))
        """
    )
    root = Path(__file__).resolve().parents[2]
    env_path = f"{root}:{root / 'layers' / 'core'}:{root / 'infra' / 'local'}"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    found = json.loads(out.stdout.strip().splitlines()[-1])

    # Then every entity failed with its reason, and the process peaked far below run_shard's 1024 MB
    assert found["counts"]["failed"] == 50
    assert found["counts"]["created"] == 0
    assert found["peak_mb"] < 300, found
