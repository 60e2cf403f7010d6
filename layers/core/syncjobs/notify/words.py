"""Counted nouns as a person writes them: "1 entity", "2 entities", never "entit(y/ies)"."""

from __future__ import annotations

_IRREGULAR = {"entity": "entities", "was": "were", "is": "are"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the word in the plural unless the count is one ("1 delete", "3 deletes")."""
    return f"{count} {word if count == 1 else many or _IRREGULAR.get(word, word + 's')}"


OUTCOME_NAMES = ("created", "updated", "deleted", "skipped", "failed")
VALIDATE_NAMES = {"valid": "skipped", "invalid": "failed"}  # shown name -> the outcome it is counted as


def named_counts(run_type: str, counts: dict[str, int]) -> dict[str, int]:
    """One entity type's counts (or the totals) under the names a run of this type means: a validate
    run writes nothing, so what it counts skipped is valid and what it counts failed is invalid (the
    stored counts keep the outcomes' names); any other run shows its outcomes as they are."""
    if run_type == "validate":
        return {name: counts.get(outcome, 0) for name, outcome in VALIDATE_NAMES.items()}
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOME_NAMES}


def named_counts_by_type(run_type: str, counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {entity_type: named_counts(run_type, per_type) for entity_type, per_type in counts.items()}
