"""Sample HR exports: realistic users, plus a few rows that must fail with a clear reason."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Barbara",
    "Edsger",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Linus",
    "Katherine",
    "John",
    "Hedy",
    "Tim",
    "Sophie",
    "Guido",
    "Anita",
    "Bjarne",
    "Shafi",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Liskov",
    "Dijkstra",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
    "Wilson",
    "van Rossum",
    "Borg",
    "Stroustrup",
    "Goldwasser",
]
TITLES = ["Engineer", "Analyst", "Manager", "Designer", "Accountant", "Recruiter", "Director", "Technician"]
COLUMNS = ["employee_id", "email", "first_name", "last_name", "title", "department", "status", "modified_at"]


@dataclass(frozen=True)
class SampleExport:
    data: bytes
    valid: dict[str, dict[str, str]]  # employee_id -> row, for rows that must be provisioned
    bad_rows: dict[int, str]  # row number (header = 1) -> why it must fail


def user_row(i: int, rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "employee_id": f"E{i:06d}",
        "email": f"{first}.{last}.{i}@example.com".lower().replace(" ", ""),
        "first_name": first,
        "last_name": last,
        "title": rng.choice(TITLES),
        "department": rng.choice(["R&D", "Finance", "Sales", "People"]),
        "status": "active" if rng.random() > 0.05 else "inactive",
        "modified_at": f"2026-11-{rng.randint(1, 20):02d}T{rng.randint(0, 23):02d}:00:00Z",
    }


def generate(users: int, seed: int = 7, bad: bool = True) -> SampleExport:
    """`users` valid users, and (with bad=True) five bad rows spread through the file."""
    rng = random.Random(seed)
    rows: list[list[str] | bytes] = []
    valid: dict[str, dict[str, str]] = {}
    for i in range(1, users + 1):
        user = user_row(i, rng)
        valid[user["employee_id"]] = user
        rows.append([user[c] for c in COLUMNS])
    bad_rows: dict[int, str] = {}
    if bad:
        hostile: dict[str, list[str] | bytes] = {
            "missing id": ["", "no.id@example.com", "No", "Id", "Clerk", "Sales", "active", "2026-11-01T00:00:00Z"],
            "empty userName": ["B000001", "", "No", "Mail", "Clerk", "Sales", "active", "2026-11-01T00:00:00Z"],
            "wrong field count": ["B000002", "short@example.com", "Too", "Short"],
            "invalid UTF-8": b"B000003,bad.utf8@example.com,Ren\xe9,Bad,Clerk,Sales,active,2026-11-01T00:00:00Z",
            "huge row": [
                "B000004",
                "huge@example.com",
                "Huge",
                "Row",
                "x" * 70_000,
                "Sales",
                "active",
                "2026-11-01T00:00:00Z",
            ],
        }
        for n, (why, bad_row) in enumerate(hostile.items()):
            position = (n + 1) * len(rows) // (len(hostile) + 1) + n
            rows.insert(position, bad_row)
            bad_rows[position + 2] = why  # + header, 1-based
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    out = bytearray(text.getvalue().encode())
    for line in rows:
        if isinstance(line, bytes):
            out += line + b"\n"
        else:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerow(line)
            out += text.getvalue().encode()
    return SampleExport(bytes(out), valid, bad_rows)


GROUP_COLUMNS = ["group_id", "name", "members", "modified_at"]
UNKNOWN_MEMBER = "E999999"  # listed as a member, never a user: left out of the group with a note


@dataclass(frozen=True)
class SampleGroups:
    data: bytes
    members: dict[str, list[str]]  # group_id -> member employee ids, as listed


def groups_export(users: dict[str, dict[str, str]]) -> SampleGroups:
    """One group per department (its active users) and a managers group that also lists an unknown id."""
    members: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for department in ["R&D", "Finance", "Sales", "People"]:
        gid = "G-" + department.replace("&", "").upper()
        names[gid] = f"Department {department}"
        members[gid] = [e for e, u in users.items() if u["department"] == department and u["status"] == "active"]
    names["G-MANAGERS"] = "Managers"
    members["G-MANAGERS"] = [e for e, u in users.items() if u["title"] == "Manager"] + [UNKNOWN_MEMBER]
    return SampleGroups(write_groups(names, members), members)


def write_groups(names: dict[str, str], members: dict[str, list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(GROUP_COLUMNS)
    for gid, name in names.items():
        writer.writerow([gid, name, ";".join(members[gid]), "2026-11-20T00:00:00Z"])
    return text.getvalue().encode()
