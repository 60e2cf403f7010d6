"""Counted nouns as a person writes them: "1 entity", "2 entities", never "entit(y/ies)"."""

from __future__ import annotations

_IRREGULAR = {"entity": "entities", "was": "were", "is": "are"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the word in the plural unless the count is one ("1 delete", "3 deletes")."""
    return f"{count} {word if count == 1 else many or _IRREGULAR.get(word, word + 's')}"
