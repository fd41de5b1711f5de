"""Hostile exports: addresses that look alike, differ only in case, padding or normalisation form, or are
not addresses at all; group names full of LDAP filter metacharacters, quotes, commas and padding; CSV and
JSON files that are damaged, oddly shaped or a million rows long.

The file source must read an export exactly — one person per normalised address (NFC, case-folded,
stripped: syncd/identity.py), a group only by its own name (trimmed, case-insensitive: the file source's
docstring) — or refuse it: exit 2, one stderr line naming the file, the line (or JSON element) and what is
allowed, no traceback, nothing sent to 7pace. Never stretched into a match: a look-alike is somebody else, a
`*` is a character and not a wildcard, and a group absent from the file is *missing* (the removals it could
explain are held), never empty.

Reading goes through the real FileSource; where the outcome matters to seats, through `syncd plan --format
json` (and `run` for refusals) against the 7pace emulator on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser
from syncd.errors import InputError
from syncd.models import GroupRead, Health
from syncd.sources.file import FileSettings, FileSource
from tests.hardening import harness as hh

SECTION = "Hostile input"
LAYOUT = ["export", "expected", "seen"]
ANN = "ann@contoso.example"
JOSE_NFC = "jos\u00e9@contoso.example"
JOSE_NFD = "jose\u0301@contoso.example"
# the organisation 7pace knows: ann and josé hold seats the export should keep; bob's seat no rule selects
ORG = [
    EmulatedUser(ANN, "Team"),
    EmulatedUser(JOSE_NFC, "Team"),
    EmulatedUser("bob@contoso.example", "Team"),
    EmulatedUser("carl@contoso.example"),
]

Record = Callable[..., None]


# -- helpers --------------------------------------------------------------------------------------------------


def source(path: Path, fmt: str = "csv", delimiter: str = ",") -> FileSource:
    return FileSource(FileSettings("hr", path, fmt, delimiter))


def write(folder: Path, content: str | bytes, name: str = "members.csv") -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def csv_text(rows: Sequence[Sequence[str]], *, delimiter: str = ",", terminator: str = "\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=terminator).writerows(rows)
    return buffer.getvalue()


def people(read: GroupRead) -> dict[str, tuple[str, str, bool]]:
    """key → (e-mail as written, display name, enabled); asserts nobody is listed twice."""
    found = {p.key: (p.email, p.display_name, p.enabled) for p in read.members}
    assert len(found) == len(read.members), [p.key for p in read.members]
    return found


def syncd(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def write_config(
    world: hh.ProxiedWorld,
    rules: Sequence[tuple[str, str]],
    *,
    export: str = "members.csv",
    source_keys: str = "",
) -> Path:
    """A config whose rules name `rules` groups of the file source `hr`; unmanaged seats are removed at once,
    so a person not matched would show as a removal. Group names are written as TOML basic strings (JSON
    string escapes are valid TOML escapes), so quotes and backslashes arrive as written."""
    text = f"""
[target]
url = "{world.proxy.base_url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true
requests_per_second = 0
requests_per_minute = 0

[[sources]]
name = "hr"
type = "file"
path = {json.dumps(export)}
{source_keys}
"""
    for group, role in rules:
        text += f'\n[[rules]]\nsource = "hr"\ngroup = {json.dumps(group)}\nrole = "{role}"\n'
    text += '\n[policy]\nunmanaged = "remove"\ngrace = "0s"\nmax_removal_percent = 100\nmax_removals = 1000\n'
    world.config.write_text(text, encoding="utf-8")
    return world.config


def plan(world: hh.ProxiedWorld) -> dict[str, Any]:
    code, out, err = syncd(["plan", "--format", "json", "-c", str(world.config)])
    doc: dict[str, Any] = json.loads(out)
    # a group not read cleanly holds work, and the plan says so by exit 4 (issue 15)
    held_work = any(g["health"] != "ok" for g in doc["groups"])
    assert code == (4 if held_work else 0), err
    return doc


def changes(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(c["key"], c["action"], c["before"], c["after"]) for c in doc["changes"]}


def held(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(h["key"], h["action"], h["cause"]) for h in doc["held"]}


def groups(doc: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(g["group"], g["health"], g["members"]) for g in doc["groups"]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[hh.ProxiedWorld]:
    with hh.running_world(tmp_path, ORG) as running:
        yield running


# -- e-mail addresses -----------------------------------------------------------------------------------------

# (what, spellings in one group, the one person they are)
SAME_PERSON = [
    ("mixed case", ["Ann@Contoso.Example", "ANN@CONTOSO.EXAMPLE", ANN], ANN),
    ("surrounding spaces and tabs", [f"  {ANN}", f"{ANN}\t", "\t Ann@Contoso.example  "], ANN),
    (
        "NFD and NFC forms of an accented local part",
        [JOSE_NFC, JOSE_NFD, "JOSE\u0301@Contoso.Example"],
        JOSE_NFC,
    ),
    (
        "NFD and NFC forms of an accented domain",
        ["ann@m\u00fcller.example", "ann@mu\u0308ller.example"],
        "ann@m\u00fcller.example",
    ),
]
# (what, look-alike of ann@contoso.example, the different person it is)
LOOK_ALIKES = [
    ("Cyrillic а in the local part", "\u0430nn@contoso.example", "\u0430nn@contoso.example"),
    ("Cyrillic о in the domain", "ann@cont\u043eso.example", "ann@cont\u043eso.example"),
    ("Greek capital Α", "\u0391nn@contoso.example", "\u03b1nn@contoso.example"),
    ("fullwidth letters", "\uff41\uff4e\uff4e@contoso.example", "\uff41\uff4e\uff4e@contoso.example"),
    ("fullwidth capitals", "\uff21NN@contoso.example", "\uff41nn@contoso.example"),
    ("mathematical bold 𝐚", "\U0001d41ann@contoso.example", "\U0001d41ann@contoso.example"),
    ("zero-width space", "ann\u200b@contoso.example", "ann\u200b@contoso.example"),
    ("soft hyphen", "an\u00adn@contoso.example", "an\u00adn@contoso.example"),
]
# full case folding and canonical equivalence go further than "mixed case": pinned so any change is deliberate
FOLDED = [
    ("ß and ss (full case folding)", ["stra\u00dfe@contoso.example", "strasse@contoso.example"], "strasse@contoso.example"),
    ("long s ſ and s (case folding)", ["\u017fam@contoso.example", "sam@contoso.example"], "sam@contoso.example"),
    ("ligature ﬁ and fi (case folding)", ["\ufb01nance@contoso.example", "finance@contoso.example"], "finance@contoso.example"),
    ("Kelvin sign K and K (NFC: canonically equal)", ["\u212aate@contoso.example", "kate@contoso.example"], "kate@contoso.example"),
    ("an SMTP: prefix (proxyAddresses style)", ["SMTP:ann@contoso.example", ANN], ANN),
]  # fmt: skip
UNUSABLE = [
    "printer-3rd-floor",
    "N/A",
    "ann@@contoso.example",
    "ann@bob@contoso.example",
    "ann@contoso",
    "@contoso.example",
    "ann@",
    "ann smith@contoso.example",
    "ann\uff20contoso.example",  # fullwidth @: no @ at all
    "ann\x00@contoso.example",
    "ann\x07@contoso.example",
    "\x1b[31mann@contoso.example",
    "ann\x7f@contoso.example",
    "ann\x85@contoso.example",
    "ann\x9b@contoso.example",
]


@pytest.mark.parametrize(
    ("what", "spellings", "key"), SAME_PERSON + FOLDED, ids=[c[0] for c in SAME_PERSON + FOLDED]
)
def test_spellings_of_one_address_are_one_person(
    tmp_path: Path, what: str, spellings: list[str], key: str, record: Record
) -> None:
    """Each spelling on its own row of one group: exactly one member, keyed by the normalised address and
    shown as first written. The FOLDED rows are NFC + casefold doing more than case: pinned, so that
    changing what identity.py merges is a decision and not an accident."""
    path = write(tmp_path, csv_text([["group", "email"], *(["Users", s] for s in spellings)]))
    read = source(path).read_group("Users")
    found = people(read)
    record(
        SECTION,
        LAYOUT,
        [f"e-mail: {what}", f"one person {key!r}", f"{len(found)} person(s): {sorted(found)!r}"],
        ("email", 1, [c[0] for c in SAME_PERSON + FOLDED].index(what)),
    )
    assert read.health is Health.OK and read.unidentified == ()
    assert found == {key: (spellings[0].strip(), "", True)}


@pytest.mark.parametrize(("what", "look_alike", "key"), LOOK_ALIKES, ids=[c[0] for c in LOOK_ALIKES])
def test_a_look_alike_is_a_different_person(
    tmp_path: Path, what: str, look_alike: str, key: str, record: Record
) -> None:
    """Listed next to the Latin address, a look-alike stays a second person with its own key: NFC and
    casefold never map another script, fullwidth forms or invisible characters onto Latin letters."""
    path = write(tmp_path, csv_text([["group", "email"], ["Users", ANN], ["Users", look_alike]]))
    found = people(source(path).read_group("Users"))
    record(
        SECTION,
        LAYOUT,
        [f"e-mail look-alike: {what}", "a different person", f"{len(found)} people: {sorted(found)!r}"],
        ("email", 2, [c[0] for c in LOOK_ALIKES].index(what)),
    )
    assert found == {ANN: (ANN, "", True), key: (look_alike, "", True)}


def test_unusable_addresses_are_reported_never_guessed(tmp_path: Path, record: Record) -> None:
    """Not an address (no @, two @, no dotted domain, inner space, control characters): skipped and counted
    as unidentified, each named with the row it came from. An empty e-mail is not unusable: it declares the
    group (README), so it adds nobody and reports nothing."""
    rows = [["group", "email"], ["Users", ""], *(["Users", raw] for raw in UNUSABLE)]
    path = write(tmp_path, csv_text(rows))
    read = source(path).read_group("Users")
    # the same through JSON, plus a lone surrogate (only a JSON escape can make one; it cannot be encoded)
    raw_json = [*UNUSABLE, "\ud800ann@contoso.example"]
    json_path = write(tmp_path, json.dumps({"Users": raw_json}), "members.json")
    json_read = source(json_path, "json").read_group("Users")
    for fmt, got, raw in (("CSV", read, UNUSABLE), ("JSON", json_read, raw_json)):
        extra = ", a lone surrogate" if fmt == "JSON" else ""
        record(
            SECTION,
            LAYOUT,
            [
                f"e-mail: {len(raw)} non-addresses in {fmt} (no @, two @, no dot, inner space, fullwidth @, "
                f"C0/DEL/C1 controls{extra})",
                f"{len(raw)} reported as no usable e-mail, nobody added",
                f"{len(got.unidentified)} reported, {len(got.members)} added",
            ],
            ("email", 3, fmt),
        )
    assert read.health is Health.OK and read.members == ()
    assert [(u.source_id, u.detail) for u in read.unidentified] == [
        (f"{path}:{line}", f"{raw!r} is not an e-mail") for line, raw in enumerate(UNUSABLE, start=3)
    ]
    assert json_read.health is Health.OK and json_read.members == ()
    assert [u.detail for u in json_read.unidentified] == [f"{raw!r} is not an e-mail" for raw in raw_json]


def test_plan_matches_normalised_spellings_and_never_look_alikes(
    world: hh.ProxiedWorld, record: Record
) -> None:
    """End to end: 7pace holds seats for ann and josé (NFC). The export lists them mixed-case, padded and in
    NFD, next to look-alikes and non-addresses. The plan keeps both seats untouched, proposes each
    look-alike as a new person unknown to 7pace (no target id: not the Latin user's seat), removes bob (whom
    nothing selects, so the plan is live) and counts the non-addresses as having no usable e-mail."""
    look_alikes = {key: raw for _, raw, key in LOOK_ALIKES}
    members = [
        f" {ANN.upper()} ",
        JOSE_NFD,
        *look_alikes.values(),
        "ann\x00@contoso.example",
        "printer-3rd-floor",
    ]
    write(world.root, csv_text([["group", "email"], *(["Users", m] for m in members)]))
    write_config(world, [("Users", "Team")])
    before = world.roles()
    doc = plan(world)
    left = {e["key"]: e["kind"] for e in doc["left_alone"]}
    untouched = sorted({ANN, JOSE_NFC} - {c["key"] for c in doc["changes"]})
    record(
        SECTION,
        LAYOUT,
        [
            "plan: licensed ann and josé listed mixed-case/padded/NFD, next to 8 look-alikes and 2 non-addresses",
            "ann and josé unchanged; 8 look-alikes not in the organization, nothing sent; 2 without usable e-mail",
            f"unchanged {untouched!r}; {sum(1 for k in left.values() if k == 'not-in-organization')} left alone "
            f"as not in the organization; {doc['unidentified']} without usable e-mail",
        ],
        ("email", 4),
    )
    # a look-alike is never matched to the Latin user's seat: 7pace's organization does not know it, so it
    # is left alone (listed) instead of being sent
    assert changes(doc) == {("bob@contoso.example", "seat-unassign", "Team", "None")}
    assert left == dict.fromkeys(look_alikes, "not-in-organization")
    assert doc["held"] == [] and doc["unidentified"] == 2
    assert groups(doc) == {("Users", "ok", 2 + len(look_alikes))}
    assert world.roles() == before and world.emulator.count("POST users/roles") == 0


# -- group names ----------------------------------------------------------------------------------------------

# group names as the export writes them (CSV-quoted where needed), each with one member of its own
ODD_GROUPS = [
    "Users",
    "Users*",
    "*",
    "(Users)",
    "a\\b",
    "CN=Users,OU=Groups,DC=corp",
    'He said "hi"',
    "  Padded  ",
    "Mixed Case",
    "Time  Tracker",
    "Stra\u00dfe",
]
# (a rule's group, the export's group it reads, or None: missing)
GROUP_QUERIES: list[tuple[str, str | None]] = [
    ("Users", "Users"),
    ("USERS", "Users"),
    ("  Users\t", "Users"),
    ("Users*", "Users*"),
    ("*", "*"),
    ("User*", None),
    ("Use?s", None),
    ("U*s", None),
    ("Users)", None),
    ("(Users)", "(Users)"),
    ("Users\\2a", None),  # the LDAP filter escape for "*" is not interpreted either
    ("a\\b", "a\\b"),
    ("a\\\\b", None),
    ("a/b", None),
    ("ab", None),
    ("CN=Users,OU=Groups,DC=corp", "CN=Users,OU=Groups,DC=corp"),
    ("cn=users,ou=groups,dc=corp", "CN=Users,OU=Groups,DC=corp"),
    ("CN=Users", None),
    ("CN=Users, OU=Groups, DC=corp", None),
    ('He said "hi"', 'He said "hi"'),
    ("He said hi", None),
    ("Padded", "  Padded  "),
    ("mixed case", "Mixed Case"),
    ("Time Tracker", None),
    ("Time  Tracker", "Time  Tracker"),
    ("Us\u0435rs", None),  # Cyrillic е
    ("\uff35sers", None),  # fullwidth U
    ("Users\u200b", None),
    ("STRASSE", "Stra\u00dfe"),  # casefold: ß and ss are one group name, as in addresses
    ("", None),
]


def test_group_names_match_exactly_trimmed_and_case_insensitive(tmp_path: Path, record: Record) -> None:
    """Every odd name is its own group, found by its own name only: trimmed and case-insensitive (as the file
    source documents), never as a pattern, a prefix, an LDAP-escaped form or a look-alike. Anything else is
    MISSING, naming the group and the file — never an empty group."""
    member_of = {f"m{i}@contoso.example": name for i, name in enumerate(ODD_GROUPS)}
    path = write(tmp_path, csv_text([["group", "email"], *([g, m] for m, g in member_of.items())]))
    files = source(path)
    seen: dict[str, str | None] = {}
    missing_details = {}
    for query, _ in GROUP_QUERIES:
        read = files.read_group(query)
        if read.health is Health.MISSING and read.members == ():
            seen[query] = None
            missing_details[query] = read.detail
        else:
            names = sorted(repr(member_of[key]) for key in people(read))
            seen[query] = " + ".join(names) + f" ({read.health.value})"
    for number, (query, expected) in enumerate(GROUP_QUERIES):
        record(
            SECTION,
            LAYOUT,
            [
                f"group name: rule {query!r}",
                "missing" if expected is None else f"group {expected!r} (ok)",
                "missing" if seen[query] is None else f"group {seen[query]}",
            ],
            ("group", 1, number),
        )
    assert seen == {q: None if g is None else f"{g!r} (ok)" for q, g in GROUP_QUERIES}
    # the closest names the file has follow as "; did you mean …?" (issue 15): the look-alikes are named,
    # never matched
    assert {q: d.partition("; did you mean")[0] for q, d in missing_details.items()} == {
        q: f"no rows for group {q!r} in {path} ({len(ODD_GROUPS)} groups in the file)"
        for q, g in GROUP_QUERIES
        if g is None
    }


def test_groups_differing_only_in_case_are_one_group(tmp_path: Path, record: Record) -> None:
    """Pinned, and reported: the index is case-insensitive, so "Admins" and "ADMINS" rows in one export
    are one group whose members are both (right for AD-derived exports, where names are case-insensitive;
    an export from a case-sensitive system that means two groups would be merged)."""
    path = write(tmp_path, "group,email\nAdmins,a@contoso.example\nADMINS,b@contoso.example\n")
    found = sorted(people(source(path).read_group("admins")))
    record(
        SECTION,
        LAYOUT,
        [
            "group name: 'Admins' and 'ADMINS' rows in one export",
            "one group (case-insensitive)",
            f"{found!r}",
        ],
        ("group", 2),
    )
    assert found == ["a@contoso.example", "b@contoso.example"]


def test_plan_with_odd_group_names_and_a_missing_group(world: hh.ProxiedWorld, record: Record) -> None:
    """End to end: rules name "(Admins)" (present), "CN=Users,OU=Groups" (present, with a comma and =),
    and "Users*" (absent; only "Users" is in the file). carl is assigned through "(Admins)", ann keeps her
    seat through the DN-like group and is not stretched into "Users*"; "Users*" is missing, never empty, so
    bob's removal is held instead of applied."""
    rows = [
        ["group", "email"],
        ["(Admins)", "carl@contoso.example"],
        ["CN=Users,OU=Groups", ANN],
        ["CN=Users,OU=Groups", JOSE_NFC],
        ["Users", "bob@contoso.example"],
    ]
    write(world.root, csv_text(rows))
    write_config(world, [("(Admins)", "Administrator"), ("CN=Users,OU=Groups", "Team"), ("Users*", "Budget")])
    doc = plan(world)
    record(
        SECTION,
        LAYOUT,
        [
            "plan: rule 'Users*' with only 'Users' in the file",
            "'Users*' missing; bob's removal held",
            f"groups {sorted((g, h) for g, h, _ in groups(doc))!r}; held {sorted(held(doc))!r}",
        ],
        ("group", 3),
    )
    assert groups(doc) == {("(Admins)", "ok", 1), ("CN=Users,OU=Groups", "ok", 2), ("Users*", "missing", 0)}
    assert changes(doc) == {("carl@contoso.example", "seat-assign", "None", "Administrator")}
    assert held(doc) == {("bob@contoso.example", "seat-unassign", "missing")}


def test_header_only_export_makes_every_group_missing(world: hh.ProxiedWorld, record: Record) -> None:
    """An export truncated after its header has no group at all: every rule's group is missing, and every
    removal it could explain is held; nothing is planned."""
    write(world.root, "group,email\r\n")
    write_config(world, [("Users", "Team")])
    doc = plan(world)
    record(
        SECTION,
        LAYOUT,
        [
            "CSV: header only (truncated export)",
            "group missing; 3 removals held, none planned",
            f"{len(doc['changes'])} planned, {len(doc['held'])} held",
        ],
        ("group", 4),
    )
    assert groups(doc) == {("Users", "missing", 0)}
    assert doc["changes"] == []
    assert held(doc) == {
        (ANN, "seat-unassign", "missing"),
        (JOSE_NFC, "seat-unassign", "missing"),
        ("bob@contoso.example", "seat-unassign", "missing"),
    }


# -- CSV and JSON that must read the same -----------------------------------------------------------------

ROWS = [
    ("Users", ANN, "Ann Lee", "true"),
    ("Users", "bob@contoso.example", "Stone, Bob", "false"),
    ("Admins", "carl@contoso.example", 'Carl "CJ"\nJones', "yes"),
]
HEADER = ("group", "email", "display_name", "enabled")
EXPECTED = {
    "Users": {
        ANN: (ANN, "Ann Lee", True),
        "bob@contoso.example": ("bob@contoso.example", "Stone, Bob", False),
    },
    "Admins": {"carl@contoso.example": ("carl@contoso.example", 'Carl "CJ"\nJones', True)},
}


def _reordered() -> str:
    order = (1, 3, 0, 2)  # email, enabled, group, display_name
    return csv_text([[HEADER[i] for i in order], *([row[i] for i in order] for row in ROWS)])


def _padded() -> str:
    """Padding around unquoted fields; a quoted field starts and ends at its delimiters (as CSV requires)."""
    lines = ["  Group , EMAIL ,Display_Name,  Enabled  "]
    quoted = ['"' + d.replace('"', '""') + '"' for _, _, d, _ in ROWS]
    lines += [f"  {g} ,\t{e}  ,{q},  {v.upper()} " for (g, e, _, v), q in zip(ROWS, quoted, strict=True)]
    return "\n".join(lines) + "\n"


def _all_quoted() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([HEADER, *ROWS])
    return buffer.getvalue()


def _blank_lines() -> str:
    body = csv_text([HEADER, *ROWS]).splitlines(keepends=True)
    return (
        "\n   \n"
        + body[0]
        + ",,,\n\n"
        + "".join(line + " \t\n" for line in body[1:3])
        + "".join(body[3:])
        + "\n\n"
    )


# (what, bytes, format, delimiter)
SAME_READING: list[tuple[str, bytes, str, str]] = [
    ("CSV: LF", csv_text([HEADER, *ROWS]).encode(), "csv", ","),
    ("CSV: CRLF", csv_text([HEADER, *ROWS], terminator="\r\n").encode(), "csv", ","),
    ("CSV: CR only", csv_text([HEADER, *ROWS], terminator="\r").encode(), "csv", ","),
    ("CSV: UTF-8 BOM and CRLF", b"\xef\xbb\xbf" + csv_text([HEADER, *ROWS], terminator="\r\n").encode(), "csv", ","),
    ("CSV: no newline at the end", csv_text([HEADER, *ROWS]).rstrip("\n").encode(), "csv", ","),
    ("CSV: blank, whitespace-only and delimiter-only lines", _blank_lines().encode(), "csv", ","),
    ("CSV: every row twice", csv_text([HEADER, *ROWS, *ROWS]).encode(), "csv", ","),
    ("CSV: the same person again in another case", csv_text([HEADER, *ROWS, ("users", ANN.upper(), "Ann Lee", "TRUE")]).encode(), "csv", ","),
    ("CSV: columns in another order", _reordered().encode(), "csv", ","),
    ("CSV: header in capitals, fields padded", _padded().encode(), "csv", ","),
    ("CSV: every field quoted", _all_quoted().encode(), "csv", ","),
    ("CSV: delimiter ';'", csv_text([HEADER, *ROWS], delimiter=";").encode(), "csv", ";"),
    ("CSV: delimiter tab", csv_text([HEADER, *ROWS], delimiter="\t").encode(), "csv", "\t"),
    ("JSON: a list of rows", json.dumps([dict(zip(HEADER, row, strict=True)) for row in ROWS]).encode(), "json", ","),
    (
        "JSON: groups to members, with BOM",
        b"\xef\xbb\xbf" + json.dumps(
            {
                "Users": [{"email": ANN, "display_name": "Ann Lee"}, {"email": "bob@contoso.example", "display_name": "Stone, Bob", "enabled": False}],
                "Admins": [{"email": "carl@contoso.example", "display_name": 'Carl "CJ"\nJones', "enabled": "yes"}],
            },
            indent=2,
        ).encode(),
        "json",
        ",",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "content", "fmt", "delimiter"), SAME_READING, ids=[c[0] for c in SAME_READING]
)
def test_harmless_variations_read_the_same(
    tmp_path: Path, what: str, content: bytes, fmt: str, delimiter: str, record: Record
) -> None:
    """BOM, line endings, blank lines, duplicates, column order, case and padding of the header, quoting,
    the delimiter setting and the JSON shapes change nothing: the same people, display names (commas, quotes
    and a line break inside quotes kept) and enabled flags."""
    path = write(tmp_path, content, "members.json" if fmt == "json" else "members.csv")
    files = source(path, fmt, delimiter)
    seen = {group: people(files.read_group(group)) for group in EXPECTED}
    same = seen == EXPECTED
    record(
        SECTION,
        LAYOUT,
        [what, "read exactly: Users {ann, bob (disabled)}, Admins {carl}", "same" if same else repr(seen)],
        ("read", [c[0] for c in SAME_READING].index(what)),
    )
    assert seen == EXPECTED


def test_duplicates_merge_enabled_wins_and_short_optional_fields_are_empty(
    tmp_path: Path, record: Record
) -> None:
    """A person listed twice is one person; listed disabled and enabled, they are enabled (as in the other
    sources). A row may stop after its e-mail: the optional display_name and enabled read as empty (enabled)."""
    path = write(
        tmp_path,
        "group,email,display_name,enabled\n"
        "Users,ann@contoso.example,Ann,false\n"
        "Users,ANN@contoso.example,Ann again,true\n"
        "Users,bob@contoso.example,Bob,no\n"
        "Users,bob@contoso.example,Bob,no\n"
        "Users,carl@contoso.example\n"
        "Users,dora@contoso.example,Dora\n",
    )
    found = people(source(path).read_group("Users"))
    record(SECTION, LAYOUT, ["CSV: duplicates, enabled and disabled, rows ending after the e-mail", "4 people, ann enabled, bob disabled", f"{len(found)} people, disabled {sorted(k for k, v in found.items() if not v[2])!r}"], ("read", len(SAME_READING)))  # fmt: skip
    assert found == {
        ANN: ("ANN@contoso.example", "Ann again", True),
        "bob@contoso.example": ("bob@contoso.example", "Bob", False),
        "carl@contoso.example": ("carl@contoso.example", "", True),
        "dora@contoso.example": ("dora@contoso.example", "Dora", True),
    }


ENABLED_ACCEPTED = {
    "true": True, "TRUE": True, " Yes ": True, "1": True, "y": True, "Enabled": True, "": True,
    "false": False, "False": False, "no": False, "0": False, "N": False, "DISABLED": False,
}  # fmt: skip
ENABLED_REFUSED = [
    "maybe",
    "2",
    "-1",
    "on",
    "off",
    "t",
    "f",
    "truee",
    "ja",
    "nein",
    "yes please",
    "✓",
    "null",
]


def test_enabled_values(tmp_path: Path, record: Record) -> None:
    """The accepted spellings of `enabled` (any case, padded) and what each means; anything else refuses the
    file at its line, naming the value and what is allowed — an unknown value is never read as enabled."""
    rows = [["group", "email", "enabled"]]
    rows += [["Users", f"p{i}@contoso.example", value] for i, value in enumerate(ENABLED_ACCEPTED)]
    found = people(source(write(tmp_path, csv_text(rows))).read_group("Users"))
    meant = {f"p{i}@contoso.example": meaning for i, meaning in enumerate(ENABLED_ACCEPTED.values())}
    messages: dict[str, str | None] = {}
    for value in ENABLED_REFUSED:
        rows = [
            ["group", "email", "enabled"],
            ["Users", ANN, "true"],
            ["Users", "bob@contoso.example", value],
        ]
        path = write(tmp_path, csv_text(rows))
        try:
            source(path).read_group("Users")
            messages[value] = None
        except InputError as error:
            messages[value] = str(error)
    expected = {
        value: f"{path}:3: enabled: {value.casefold()!r} is not one of true, yes, y, 1, enabled (or empty); false, no, n, 0, disabled"
        for value in ENABLED_REFUSED
    }
    record(
        SECTION,
        LAYOUT,
        [
            f"CSV: enabled values {sorted(ENABLED_ACCEPTED)!r} accepted, {ENABLED_REFUSED!r} refused",
            "accepted ones read as meant; the others refused at their line (exit 2)",
            f"{sum(found.get(k, ('', '', None))[2] is v for k, v in meant.items())} accepted as meant, "
            f"{sum(messages[v] == expected[v] for v in ENABLED_REFUSED)} refused",
        ],
        ("read", len(SAME_READING) + 1),
    )
    assert {k: v[2] for k, v in found.items()} == meant
    assert messages == expected


def test_plan_reads_a_semicolon_export_with_the_delimiter_setting(
    world: hh.ProxiedWorld, record: Record
) -> None:
    """`delimiter = ";"` on the source: the plan reads the export as the file source does (a ';' inside a
    quoted display name does not split its row; ann and josé keep their seats, carl gets one, bob's goes).
    The same file without the setting is refused (see the refusals below), never half-read."""
    rows = [
        ["group", "email", "display_name"],
        ["Users", ANN, "Lee; Ann"],
        ["Users", JOSE_NFC, "José"],
        ["Users", "carl@contoso.example", "Carl"],
    ]
    write(world.root, csv_text(rows, delimiter=";"))
    write_config(world, [("Users", "Team")], source_keys='delimiter = ";"')
    doc = plan(world)
    record(
        SECTION,
        LAYOUT,
        [
            "plan: ';'-separated export with delimiter = \";\"",
            "carl assigned, bob removed, ann and josé unchanged",
            f"{sorted((k, a) for k, a, _, _ in changes(doc))!r}",
        ],
        ("read", len(SAME_READING) + 2),
    )
    assert groups(doc) == {("Users", "ok", 3)}
    assert changes(doc) == {
        ("carl@contoso.example", "seat-assign", "None", "Team"),
        ("bob@contoso.example", "seat-unassign", "Team", "None"),
    }


# -- refused: exit 2, one line naming the file, line and what is allowed -----------------------------------

_GOOD = b"group,email\nUsers,ann@contoso.example\n"
_BIG_ROWS = b"".join(b"Users,u%06d@contoso.example\n" % i for i in range(50_000))

# (what, file name, content, line or None (JSON: the element is named instead), the rest of the message)
REFUSED: list[tuple[str, str, bytes, int | None, str]] = [
    ("CSV: column email missing", "members.csv", b"group,display_name\nUsers,Ann\n", 1,
     "header lacks column(s) email; expected group,email[,display_name][,enabled][,upn][,id]"),
    ("CSV: header after blank lines lacks group", "members.csv", b"\r\n\r\nteam,email\r\nUsers,ann@contoso.example\r\n", 3,
     "header lacks column(s) group; expected group,email[,display_name][,enabled][,upn][,id]"),
    ("CSV: ';' file read with delimiter ','", "members.csv", b"group;email\nUsers;ann@contoso.example\n", 1,
     "header lacks column(s) group, email; expected group,email[,display_name][,enabled][,upn][,id]"),
    ("CSV: an unknown extra column", "members.csv", b"group,email,department\nUsers,ann@contoso.example,IT\n", 1,
     "unknown column(s) department; allowed: group, email, display_name, enabled, upn, id"),
    ("CSV: a column twice", "members.csv", b"group,email,email\nUsers,ann@contoso.example,bob@contoso.example\n", 1,
     "column(s) email appear more than once; each of group, email, display_name, enabled, upn, id at most once"),
    ("CSV: a row with too many fields", "members.csv", _GOOD + b"Users,bob@contoso.example,Bob\n", 3,
     "3 fields, header has 2"),
    ("CSV: a row that stops before its e-mail", "members.csv", _GOOD + b"Users\n", 3,
     "1 field(s), header has 2; every row needs its group and email fields (declare an empty group with an empty email field)"),
    ("CSV: a row without a group", "members.csv", _GOOD + b",bob@contoso.example\n", 3,
     "group is empty; every row needs a group"),
    ("CSV: enabled 'maybe'", "members.csv", b"group,email,enabled\nUsers,ann@contoso.example,maybe\n", 2,
     "enabled: 'maybe' is not one of true, yes, y, 1, enabled (or empty); false, no, n, 0, disabled"),
    ("CSV: Latin-1 byte on line 3", "members.csv", _GOOD + b"Users,ren\xe9@contoso.example\n", 3,
     f"not UTF-8 text (byte {len(_GOOD) + 9}); export as UTF-8"),
    ("CSV: Latin-1 byte on line 50,003 (past the read buffer)", "members.csv", _GOOD + _BIG_ROWS + b"Users,ren\xe9@contoso.example\n", 50_003,
     f"not UTF-8 text (byte {len(_GOOD) + len(_BIG_ROWS) + 9}); export as UTF-8"),
    ("CSV: UTF-16 (Excel 'Unicode text')", "members.csv", _GOOD.decode().encode("utf-16"), 1,
     "not UTF-8 text (byte 0); export as UTF-8"),
    ("CSV: a quoted field never closed", "members.csv", _GOOD + b'Users,"bob@contoso.example\nAdmins,carl@contoso.example\n', 3,
     "malformed CSV: unexpected end of data; a field that holds ',', '\"' or a line break must be enclosed in double quotes, with any '\"' inside it doubled"),
    ("CSV: a quote never closed, 1.4 MB before the end", "members.csv", _GOOD + b'Users,"bob@contoso.example\n' + _BIG_ROWS, 3,
     "malformed CSV: field larger than field limit (131072); a field that holds ',', '\"' or a line break must be enclosed in double quotes, with any '\"' inside it doubled"),
    ("CSV: text after a closing quote", "members.csv", _GOOD + b'Users,"bob"@contoso.example\n', 3,
     "malformed CSV: ',' expected after '\"'; a field that holds ',', '\"' or a line break must be enclosed in double quotes, with any '\"' inside it doubled"),
    ("CSV: empty file", "members.csv", b"", None,
     "empty file; expected a header row group,email[,display_name][,enabled][,upn][,id]"),
    ("CSV: only blank lines", "members.csv", b"\r\n  \r\n,\r\n", None,
     "empty file; expected a header row group,email[,display_name][,enabled][,upn][,id]"),
    ("JSON: a number instead of a list", "members.json", b"42", None,
     "expected a list of rows or an object mapping groups to members"),
    ("JSON: a string", "members.json", b'"Users"', None,
     "expected a list of rows or an object mapping groups to members"),
    ("JSON: null", "members.json", b"null", None,
     "expected a list of rows or an object mapping groups to members"),
    ("JSON: a list of numbers", "members.json", b"[1, 2]", None,
     "[0]: expected an object with group and email"),
    ("JSON: a list of lists", "members.json", b'[["Users", "ann@contoso.example"]]', None,
     "[0]: expected an object with group and email"),
    ("JSON: a group mapped to a string", "members.json", b'{"Users": "ann@contoso.example"}', None,
     "'Users': expected a list of members"),
    ("JSON: a group mapped to an object", "members.json", b'{"Users": {"email": "ann@contoso.example"}}', None,
     "'Users': expected a list of members"),
    ("JSON: a member that is a number", "members.json", b'{"Users": [42]}', None,
     "'Users'[0]: expected an e-mail string or an object"),
    ("JSON: a member that is a list", "members.json", b'{"Users": [["ann@contoso.example"]]}', None,
     "'Users'[0]: expected an e-mail string or an object"),
    ("JSON: an e-mail that is an object", "members.json", b'[{"group": "Users", "email": {"address": "ann@contoso.example"}}]', None,
     "[0].email: expected a string, got dict"),
    ("JSON: a group that is a number", "members.json", b'[{"group": 7, "email": "ann@contoso.example"}]', None,
     "[0].group: expected a string, got int"),
    ("JSON: enabled 0", "members.json", b'[{"group": "Users", "email": "ann@contoso.example", "enabled": 0}]', None,
     "[0].enabled: expected a string, got int"),
    ("JSON: NaN for an e-mail", "members.json", b'[{"group": "Users", "email": NaN}]', None,
     "[0].email: expected a string, got float"),
    ("JSON: an unknown field", "members.json", b'[{"group": "Users", "mail": "ann@contoso.example"}]', None,
     "[0]: unknown field 'mail'; allowed: group, email, display_name, enabled, upn, id"),
    ("JSON: a group twice in one object", "members.json", b'{"Users": ["ann@contoso.example"], "Users": ["bob@contoso.example"]}', None,
     "'Users' appears twice in one object; each group or field once"),
    ("JSON: a field twice in one row", "members.json", b'[{"group": "Users", "email": "ann@contoso.example", "email": "bob@contoso.example"}]', None,
     "'email' appears twice in one object; each group or field once"),
    ("JSON: nested 100,000 deep", "members.json", b"[" * 100_000 + b"]" * 100_000, None,
     "JSON nested too deeply; expected a list of rows or an object mapping groups to members"),
    ("JSON: truncated", "members.json", b'[{"group": "Users", "email": "ann@contoso.example"},\n {"gro', 2,
     "invalid JSON: Unterminated string starting at"),
    ("JSON: empty file", "members.json", b"", 1,
     "invalid JSON: Expecting value"),
    ("JSON: Latin-1 byte", "members.json", b'{"Users": ["ren\xe9@contoso.example"]}', 1,
     "not UTF-8 text (byte 15); export as UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "name", "content", "line", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_exports_exit_2_with_one_line(
    world: hh.ProxiedWorld,
    what: str,
    name: str,
    content: bytes,
    line: int | None,
    message: str,
    record: Record,
) -> None:
    """The file source raises one InputError line naming the file and line (or the JSON element); `plan` and
    `run` both exit 2 printing exactly that line, no traceback, nothing on stdout, nothing sent to 7pace and
    no change audited (the run's own summary records the failure)."""
    path = write(world.root, content, name)
    write_config(world, [("Users", "Team")], export=name)
    before = world.roles()
    outcomes = []
    for command in ("plan", "run"):
        argv = [command, "--format", "json"] if command == "plan" else [command]
        code, out, err = syncd([*argv, "-c", str(world.config)])
        outcomes.append((code, out, err.splitlines()))
    seen_line = outcomes[0][2][0].replace(str(world.root) + "/", "") if outcomes[0][2] else "(nothing)"
    record(
        SECTION,
        LAYOUT,
        [
            f"refused {what}",
            "plan and run exit 2, one line naming " + ("file:line" if line is not None else "the file"),
            f"exit {outcomes[0][0]}/{outcomes[1][0]}, {len(outcomes[0][2])}/{len(outcomes[1][2])} line(s): {seen_line}",
        ],
        ("refused", [c[0] for c in REFUSED].index(what)),
    )
    with pytest.raises(InputError) as caught:
        source(path, "json" if name.endswith(".json") else "csv").read_group("Users")
    error = str(caught.value)
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert error.startswith(prefix) and message in error and "\n" not in error, error
    assert world.roles() == before and world.emulator.count("POST users/roles") == 0
    events = world.audit()
    for code, out, lines in outcomes:
        assert (code, out, lines) == (2, "", [f"syncd: error: {error}"])
    assert [e["event.action"] for e in events] == ["run-summary"]
    assert (events[0]["event.outcome"], events[0]["process.exit.code"]) == ("failure", 2)


# -- a million rows ---------------------------------------------------------------------------------------

BIG_GROUPS = ("Timetracker Users", "Finance", "Contractors", "Timetracker Admins")
BIG_ROWS = 1_000_000
BIG_PEOPLE = 400_000  # row i lists person i % 400,000 in group i % 4: 100,000 people a group, each 2-3 times


def _big_expected(group: int) -> tuple[set[str], set[str]]:
    """(members, disabled members) of BIG_GROUPS[group]: person p is disabled when (p // 4) % 1000 == 7."""
    members = {f"user{p:06d}@contoso.example" for p in range(group, BIG_PEOPLE, 4)}
    disabled = {f"user{p:06d}@contoso.example" for p in range(group, BIG_PEOPLE, 4) if (p // 4) % 1000 == 7}
    return members, disabled


def _write_big(path: Path) -> None:
    """Rows 0-399,999 spell each person User…@Contoso.Example, later rows USER…@CONTOSO.EXAMPLE (the same
    person); a person with (p // 4) % 1000 == 9 is disabled in the first row only (enabled wins)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffgroup,email,display_name,enabled\r\n")
        chunk: list[str] = []
        for i in range(BIG_ROWS):
            p = i % BIG_PEOPLE
            email = f"User{p:06d}@Contoso.Example" if i < BIG_PEOPLE else f"USER{p:06d}@CONTOSO.EXAMPLE"
            tag = (p // 4) % 1000
            enabled = "false" if tag == 7 or (tag == 9 and i < BIG_PEOPLE) else "true"
            chunk.append(f"{BIG_GROUPS[i % 4]},{email},User {p},{enabled}\r\n")
            if len(chunk) == 50_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


def _rss_mb(field: str) -> float | None:
    with contextlib.suppress(OSError), Path("/proc/self/status").open(encoding="ascii") as status:
        for text in status:
            if text.startswith(field + ":"):
                return int(text.split()[1]) / 1024
    return None


@pytest.mark.slow
def test_a_million_row_export_is_read_exactly(
    tmp_path: Path, record: Record, record_property: Callable[[str, object], None]
) -> None:
    """1,000,000 memberships (BOM, CRLF, every person 2-3 times in two spellings): each group is exactly its
    100,000 people, each once, the disabled exactly those disabled in every row, a sample exact to the
    spelling and display name; a group not in the file is still missing. Time and peak memory are printed
    and attached as JUnit properties, not asserted (they depend on the machine)."""
    path = tmp_path / "members.csv"
    started = time.perf_counter()
    _write_big(path)
    written = time.perf_counter() - started
    with contextlib.suppress(OSError):  # Linux: reset the peak-RSS mark so VmHWM measures this read
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    rss_before = _rss_mb("VmRSS")
    started = time.perf_counter()
    files = source(path)
    reads = {name: files.read_group(name) for name in BIG_GROUPS}
    elapsed = time.perf_counter() - started
    peak = _rss_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = (
        f"1,000,000-row CSV ({path.stat().st_size / 1e6:.0f} MB): written in {written:.1f} s, read in "
        f"{elapsed:.1f} s; peak RSS {peak:.0f} MB ({peak - (rss_before or 0):.0f} MB above the start)"
    )
    print(figures)
    record_property("million_rows", figures)

    found = {name: people(read) for name, read in reads.items()}
    disabled = {name: {k for k, (_, _, enabled) in found[name].items() if not enabled} for name in found}
    expected = {name: _big_expected(number) for number, name in enumerate(BIG_GROUPS)}
    record(
        SECTION,
        LAYOUT,
        [
            "CSV: 1,000,000 rows (4 groups, 400,000 people listed 2-3 times in two spellings, BOM, CRLF)",
            "each group exactly its 100,000 people, once each, exactly its 100 disabled",
            "; ".join(
                f"{name} {len(found[name])} ({len(disabled[name])} disabled"
                + (
                    ")"
                    if (set(found[name]), disabled[name]) == expected[name]
                    else ", NOT the expected sets)"
                )
                for name in BIG_GROUPS
            ),
        ],
        ("scale",),
    )
    for name in BIG_GROUPS:
        assert reads[name].health is Health.OK and reads[name].unidentified == ()
        assert (set(found[name]), disabled[name]) == expected[name]
    users = found["Timetracker Users"]
    assert users["user000000@contoso.example"] == ("User000000@Contoso.Example", "User 0", True)
    assert users["user000028@contoso.example"] == ("User000028@Contoso.Example", "User 28", False)  # tag 7
    assert users["user000036@contoso.example"] == ("USER000036@CONTOSO.EXAMPLE", "User 36", True)  # tag 9
    assert users["user399996@contoso.example"] == ("User399996@Contoso.Example", "User 399996", True)
    assert found["Finance"]["user000001@contoso.example"] == ("User000001@Contoso.Example", "User 1", True)
    missing = files.read_group("Timetracker Guests")
    assert missing.health is Health.MISSING and "(4 groups in the file); did you mean" in missing.detail
