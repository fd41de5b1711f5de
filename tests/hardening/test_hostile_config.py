"""Hostile configurations, generated: broken TOML, wrong types, unknown and misspelt keys, bad durations,
roles and URLs, duplicate names, paths that do not exist, directories where files belong, numbers out of
range, inline secrets, bytes that are not UTF-8.

Each through `plan`, `apply`, `run` or `check --offline`: exit 2, every stderr line starts with
"syncd: error:", nothing on stdout, no traceback, the token's value nowhere, and nothing written: the
folder holds exactly what it held before (no state, no audit, no lock files) — except, for the unattended
`run` and `apply`, the one error line of the dated diagnostic log in `logs` beside the config (issue 20: a
scheduler discards stderr, so a config error must be on disk).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from syncd.cli import main
from syncd.config_section import parse_duration

TOKEN_VALUE = "sentinel-hostile-config-token"
BASE: dict[str, Any] = {
    "target": {"url": "https://syncd-hostile.invalid", "token": {"file": "token.txt"}, "batch_size": 50},
    "sources": [{"name": "hr", "type": "file", "path": "members.csv"}],
    "rules": [{"source": "hr", "group": "Users", "role": "Team"}],
    "roles": {"order": ["Administrator", "Budget", "Product", "Team"]},
    "policy": {"grace": "1h", "max_removals": 10, "max_removal_percent": 10.0, "protected": []},
    "schedule": {"every": "1h"},
    "state": {"dir": "state"},
    "audit": {"dir": "logs", "retention_days": 30},
}
KNOWN = {
    "": ["target", "sources", "rules", "roles", "policy", "schedule", "state", "audit", "metrics_file",
         "dry_run", "pricing"],
    "target": ["type", "url", "token", "api_version", "batch_size", "requests_per_second",
               "requests_per_minute", "ca_bundle", "proxy", "timeout", "allow_insecure_http"],
    "sources.0": ["name", "type", "path", "format", "delimiter"],
    "rules.0": ["source", "group", "role"],
    "roles": ["order"],
    "policy": ["unmanaged", "protected", "grace", "max_removals", "max_removal_percent",
               "max_group_shrink_percent", "seat_limit", "adopt"],
    "schedule": ["every", "cron", "jitter"],
    "state": ["dir"],
    "audit": ["dir", "retention_days"],
}  # fmt: skip

# (table, key, what it accepts): a value of any other shape is an error
TYPED = [
    ("target", "url", "str"),
    ("target", "token", "secret"),
    ("target", "batch_size", "int"),
    ("target", "timeout", "number"),
    ("target", "allow_insecure_http", "bool"),
    ("target", "api_version", "str"),
    ("sources.0", "name", "str"),
    ("sources.0", "type", "str"),
    ("sources.0", "path", "str"),
    ("rules.0", "source", "str"),
    ("rules.0", "group", "str"),
    ("rules.0", "role", "str"),
    ("roles", "order", "strs"),
    ("policy", "grace", "str"),
    ("policy", "max_removals", "int"),
    ("policy", "max_removal_percent", "number"),
    ("policy", "protected", "strs"),
    ("policy", "unmanaged", "str"),
    ("policy", "adopt", "bool"),
    ("schedule", "every", "str"),
    ("state", "dir", "str"),
    ("audit", "retention_days", "int"),
]
# where a whole table (or array of tables) may be replaced by something else
TABLES = ["target", "sources", "rules", "roles", "policy", "schedule", "state", "audit"]

# -- a small TOML writer (the standard library reads TOML but does not write it) ---------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not _is_table(v) and not _is_tables(v)]
    for name, value in doc.items():
        if _is_table(value):
            lines.append(f"\n[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif _is_tables(value):
            for item in value:
                lines.append(f"\n[[{_key(name)}]]")
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) and not _is_secret(value)


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _is_secret(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("env", "file", "keyring", "credential")
    )


# -- the folder ---------------------------------------------------------------------------------------------


def prepare(folder: Path) -> None:
    (folder / "token.txt").write_text(TOKEN_VALUE, encoding="utf-8")
    (folder / "token.txt").chmod(0o600)
    (folder / "members.csv").write_text("group,email\nUsers,ann@example.com\n", encoding="utf-8")
    (folder / "a-directory").mkdir()
    (folder / "a-file").write_text("not a directory\n", encoding="utf-8")


def snapshot(folder: Path) -> dict[str, tuple[bool, int]]:
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size) for p in sorted(folder.rglob("*"))}


def table(doc: dict[str, Any], where: str) -> dict[str, Any]:
    node: Any = doc
    for part in filter(None, where.split(".")):
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    assert isinstance(node, dict)
    return node


# -- mutations: each makes the config invalid on its own ------------------------------------------------------

Mutation = tuple[str, Callable[[dict[str, Any]], None]]
ANY_VALUE = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 9), min_size=1, max_size=2),
)


def _fits(value: Any, accepts: str) -> bool:
    if accepts == "str":
        return isinstance(value, str)
    if accepts == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if accepts == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if accepts == "bool":
        return isinstance(value, bool)
    if accepts == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return _is_secret(value)  # "secret"


@st.composite
def wrong_type(draw: st.DrawFn) -> Mutation:
    where, key, accepts = draw(st.sampled_from(TYPED))
    value = draw(ANY_VALUE.filter(lambda v: not _fits(v, accepts)))

    def apply(doc: dict[str, Any]) -> None:
        table(doc, where)[key] = value

    return f"wrong type: {where or 'top'}.{key}", apply


@st.composite
def wrong_table(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(TABLES))
    value = draw(st.one_of(st.integers(0, 9), st.text(max_size=5), st.booleans()))

    def apply(doc: dict[str, Any]) -> None:
        doc[name] = value if name != "sources" else [value]

    return "a table replaced by a value", apply


def _misspell(draw: st.DrawFn, word: str) -> str:
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "swap", "double", "case", "dash"]))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "case":
        return word.upper()
    if kind == "dash":
        return word.replace("_", "-") if "_" in word else word + "-"
    return word[: i + 1] + word[i] + word[i + 1 :]


@st.composite
def unknown_key(draw: st.DrawFn) -> Mutation:
    where = draw(st.sampled_from(sorted(KNOWN)))
    known = KNOWN[where]
    if draw(st.booleans()):
        name = _misspell(draw, draw(st.sampled_from(known)))
    else:
        name = draw(st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
    assume(name not in known)

    def apply(doc: dict[str, Any]) -> None:
        table(doc, where)[name] = "x" if where else 1

    return "unknown or misspelt key", apply


@st.composite
def bad_duration(draw: st.DrawFn) -> Mutation:
    where, key = draw(st.sampled_from([("policy", "grace"), ("schedule", "every"), ("schedule", "jitter")]))
    text = draw(
        st.one_of(
            st.text(max_size=8),
            st.sampled_from(["24", "1 h", "1.5h", "-1h", "h", "1y", "P1D", "1h30", "∞", "0s"]),
        ).filter(
            lambda t: parse_duration(t) is None or (key == "every" and parse_duration(t).total_seconds() == 0)
        )
    )

    def apply(doc: dict[str, Any]) -> None:
        table(doc, where)[key] = text

    return "bad duration", apply


@st.composite
def bad_role(draw: st.DrawFn) -> Mutation:
    roles = ("Administrator", "Budget", "Product", "Team", "None")
    kind = draw(st.sampled_from(["rule", "order-none", "order-duplicate", "order-empty"]))
    role = draw(st.text(min_size=1, max_size=12).filter(lambda r: r not in roles and r.strip()))

    def apply(doc: dict[str, Any]) -> None:
        if kind == "rule":
            doc["rules"][0]["role"] = role
        elif kind == "order-none":
            doc["roles"]["order"] = ["Administrator", "None", "Team"]
        elif kind == "order-duplicate":
            doc["roles"]["order"] = ["Team", "Administrator", "Team"]
        else:
            doc["roles"]["order"] = []

    return "bad role", apply


def _not_a_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme not in ("http", "https") or not parts.hostname
    except ValueError:
        return True


@st.composite
def bad_url(draw: st.DrawFn) -> Mutation:
    url = draw(
        st.one_of(
            st.text(max_size=30).filter(_not_a_url),
            st.sampled_from(
                [
                    "ftp://tt.example.com",
                    "http://tt.example.com",  # plain HTTP without allow_insecure_http
                    "https://tt.example.com/some/where/else",
                    "https://tt.example.com/api/rest?x=1",
                    "https://",
                    "contoso.timehub.7pace.com",
                    "https://tt.example.com/api/a/b/c",
                ]
            ),
        )
    )

    def apply(doc: dict[str, Any]) -> None:
        doc["target"]["url"] = url

    return "bad URL", apply


@st.composite
def duplicates(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["source", "rule"]))

    def apply(doc: dict[str, Any]) -> None:
        if kind == "source":
            doc["sources"].append({"name": "hr", "type": "file", "path": "members.csv"})
        else:
            doc["rules"].append({"source": "hr", "group": "USERS", "role": "Administrator"})

    return f"duplicate {kind}", apply


@st.composite
def missing_path(draw: st.DrawFn) -> Mutation:
    # not the token: a secret that is not there (yet) is a note for `check --offline`, which works without
    # the secrets (issue 15); run, apply and plan still refuse it (tests/cli/test_errors_that_help.py)
    slot = draw(st.sampled_from(["source", "ca_bundle", "state-is-a-file", "audit-is-a-file"]))
    name = draw(st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.(csv|txt|pem)", fullmatch=True))

    def apply(doc: dict[str, Any]) -> None:
        if slot == "source":
            doc["sources"][0]["path"] = "missing/" + name
        elif slot == "ca_bundle":
            doc["target"]["ca_bundle"] = "missing/" + name
        elif slot == "state-is-a-file":
            doc["state"]["dir"] = "a-file"
        else:
            doc["audit"]["dir"] = "a-file"

    return "path that does not exist (or a file for a folder)", apply


@st.composite
def directory_for_file(draw: st.DrawFn) -> Mutation:
    slot = draw(st.sampled_from(["source", "token", "ca_bundle", "metrics"]))

    def apply(doc: dict[str, Any]) -> None:
        if slot == "source":
            doc["sources"][0]["path"] = "a-directory"
        elif slot == "token":
            doc["target"]["token"] = {"file": "a-directory"}
        elif slot == "ca_bundle":
            doc["target"]["ca_bundle"] = "a-directory"
        else:
            doc["metrics_file"] = "a-directory/../a-file/metrics.prom"

    return "a directory where a file belongs", apply


@st.composite
def out_of_range(draw: st.DrawFn) -> Mutation:
    where, key, value = draw(
        st.sampled_from(
            [
                ("target", "batch_size", 0),
                ("target", "batch_size", 501),
                ("target", "timeout", 0.5),
                ("target", "requests_per_second", -1),
                ("policy", "max_removals", -1),
                ("policy", "max_removal_percent", 100.5),
                ("policy", "max_removal_percent", -3),
                ("policy", "max_group_shrink_percent", 250),
                ("policy", "seat_limit", -5),
                ("audit", "retention_days", 0),
            ]
        )
    )

    def apply(doc: dict[str, Any]) -> None:
        table(doc, where)[key] = value

    return "number out of range", apply


@st.composite
def inline_secret(draw: st.DrawFn) -> Mutation:
    form = draw(st.sampled_from(["literal", "two-kinds", "unknown-kind", "empty"]))

    def apply(doc: dict[str, Any]) -> None:
        doc["target"]["token"] = {
            "literal": TOKEN_VALUE,
            "two-kinds": {"env": "X", "file": "token.txt"},
            "unknown-kind": {"vault": "secret/x"},
            "empty": {"file": ""},
        }[form]

    return "secret written inline or malformed", apply


@st.composite
def missing_required(draw: st.DrawFn) -> Mutation:
    what = draw(st.sampled_from(["target", "sources", "rules", "target.url", "target.token", "rule.source"]))

    def apply(doc: dict[str, Any]) -> None:
        if what == "target.url":
            del doc["target"]["url"]
        elif what == "target.token":
            del doc["target"]["token"]
        elif what == "rule.source":
            doc["rules"][0]["source"] = "hr2"  # names no source
        else:
            del doc[what]

    return "required setting missing", apply


DOC_MUTATIONS = st.one_of(
    wrong_type(),
    wrong_table(),
    unknown_key(),
    bad_duration(),
    bad_role(),
    bad_url(),
    duplicates(),
    missing_path(),
    directory_for_file(),
    out_of_range(),
    inline_secret(),
    missing_required(),
)

BROKEN_FRAGMENTS = [
    "[target",
    "url = ",
    'url = "unterminated',
    "= 1",
    "[[sources]",
    "[target]",  # the table twice
    'name = "hr"\nname = "hr"',  # a key twice
    "x = [1, 2",
    "y = {a = 1,}",
    "\x00",
    "z = 1979-13-45",
]


@st.composite
def broken_text(draw: st.DrawFn) -> tuple[str, Callable[[str], bytes]]:
    """Text-level damage to a valid file: TOML that does not parse, or bytes that are not UTF-8."""
    kind = draw(st.sampled_from(["fragment", "garbage", "truncate", "not-utf8", "empty"]))
    fragment = draw(st.sampled_from(BROKEN_FRAGMENTS))
    garbage = draw(st.text(min_size=1, max_size=20))
    where = draw(st.floats(0, 1))

    def apply(text: str) -> bytes:
        lines = text.splitlines()
        at = int(where * len(lines))
        if kind == "fragment":
            return "\n".join([*lines[:at], fragment, *lines[at:]]).encode()
        if kind == "garbage":
            return "\n".join([*lines[:at], garbage, *lines[at:]]).encode()
        if kind == "truncate":
            return text[: int(where * len(text))].encode()
        if kind == "not-utf8":
            return b"\xff\xfe\xfa" + text.encode("utf-16-le")
        return b""

    return kind, apply


def _invalid(raw: bytes) -> bool:
    try:
        tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return True
    return False


# -- the property ---------------------------------------------------------------------------------------------

COMMANDS = [["run"], ["apply"], ["plan"], ["check", "--offline"]]


def run_syncd(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def refused_cleanly(folder: Path, argv: list[str]) -> list[str]:
    """Run syncd on a broken config in `folder`; what is wrong with how it refused (empty = all good)."""
    before = snapshot(folder)
    code, out, err = run_syncd(argv)
    problems = []
    if code != 2:
        problems.append(f"exit {code}")
    if not err.strip():
        problems.append("nothing on stderr")
    problems += [
        f"stderr line {line!r}" for line in err.splitlines() if not line.startswith("syncd: error: ")
    ]
    if out:
        problems.append(f"stdout {out[:80]!r}")
    if "Traceback" in out + err:
        problems.append("traceback")
    if TOKEN_VALUE in out + err:
        problems.append("the token's value was printed")
    after = snapshot(folder)
    if argv[0] in ("run", "apply"):
        problems += _diagnostic_line_only(folder, before, after)
        after = {k: v for k, v in after.items() if k not in _diagnostic_files(folder, before)}
    if after != before:
        problems.append(f"wrote {sorted(set(after) ^ set(before)) or 'into existing files'}")
    return problems


def _diagnostic_files(folder: Path, before: dict[str, tuple[bool, int]]) -> set[str]:
    new = {str(p.relative_to(folder)) for p in folder.glob("logs/syncd-*.log")} | {"logs"}
    return new - set(before)


def _diagnostic_line_only(
    folder: Path, before: dict[str, tuple[bool, int]], after: dict[str, tuple[bool, int]]
) -> list[str]:
    """The refusal is on disk as exactly one error event naming exit 2, and never carries the token."""
    logs = [folder / name for name in _diagnostic_files(folder, before) if name != "logs"]
    if not logs:
        return ["no diagnostic log line for an unattended command"]
    lines = [line for log in logs for line in log.read_text(encoding="utf-8").splitlines()]
    events = [json.loads(line) for line in lines]
    problems = [] if [(e["level"], e["exit_code"]) for e in events] == [("error", 2)] else [f"logged {lines}"]
    if any(TOKEN_VALUE in line for line in lines):
        problems.append("the token's value was logged")
    return problems


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    """The control: without a mutation the config passes `check --offline`, so every refusal below is
    caused by its mutation."""
    prepare(tmp_path)
    path = tmp_path / "syncd.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    assert run_syncd(["check", "--offline", "-c", str(path)])[0] == 0
    assert tomllib.loads(to_toml(BASE)) == BASE


def test_generated_hostile_configs_exit_2_and_write_nothing(record: Callable[..., None]) -> None:
    tried: Counter[str] = Counter()
    failed: Counter[str] = Counter()

    @settings(
        max_examples=400,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(
        mutations=st.lists(DOC_MUTATIONS, min_size=1, max_size=3),
        text_damage=st.one_of(st.none(), broken_text()),
        command=st.sampled_from(COMMANDS),
    )
    def check(
        mutations: list[Mutation],
        text_damage: tuple[str, Callable[[str], bytes]] | None,
        command: list[str],
    ) -> None:
        doc = copy.deepcopy(BASE)
        labels = []
        for label, mutate in mutations:
            try:
                mutate(doc)
            except (KeyError, IndexError, TypeError, AssertionError):
                continue  # an earlier mutation removed or replaced what this one changes
            labels.append(label)
        assume(labels)
        raw = to_toml(doc).encode()
        if text_damage is not None:
            kind, damage = text_damage
            damaged = damage(to_toml(doc))
            if _invalid(damaged):  # some damage happens to stay valid TOML: keep the doc mutations then
                raw, labels = damaged, [f"broken TOML ({kind})"]
        with tempfile.TemporaryDirectory(prefix="syncd-hostile-") as name:
            folder = Path(name)
            prepare(folder)
            (folder / "syncd.toml").write_bytes(raw)
            problems = refused_cleanly(folder, [*command, "-c", str(folder / "syncd.toml")])
        for label in set(labels):
            tried[label] += 1
            if problems:
                failed[label] += 1
        assert problems == [], (labels, raw.decode("utf-8", "replace"))

    try:
        check()
    finally:
        for label in sorted(tried):
            record(
                "Hostile input",
                ["input", "examples", "refused cleanly (exit 2, one line each, nothing written)"],
                [f"config: {label}", tried[label], tried[label] - failed[label]],
                ("config", label),
            )


@pytest.mark.parametrize(
    ("what", "setup"),
    [
        ("config path is a directory", lambda folder: (folder / "syncd.toml").mkdir()),
        ("config file does not exist", lambda folder: None),
        ("config file is empty", lambda folder: (folder / "syncd.toml").write_bytes(b"")),
        (
            "config is UTF-16",
            lambda folder: (folder / "syncd.toml").write_bytes(to_toml(BASE).encode("utf-16")),
        ),
        ("config is a JSON document", lambda folder: (folder / "syncd.toml").write_text(json.dumps(BASE))),
        (
            "config names a token file readable by others",
            lambda folder: (
                (folder / "syncd.toml").write_text(to_toml(BASE)),
                (folder / "token.txt").chmod(0o644),
            ),
        ),
    ],
)
def test_named_hostile_config(
    tmp_path: Path, what: str, setup: Callable[[Path], Any], record: Callable[..., None]
) -> None:
    prepare(tmp_path)
    setup(tmp_path)
    problems = refused_cleanly(tmp_path, ["run", "-c", str(tmp_path / "syncd.toml")])
    record(
        "Hostile input",
        ["input", "examples", "refused cleanly (exit 2, one line each, nothing written)"],
        [f"config: {what}", 1, 1 if not problems else f"0 ({'; '.join(problems)})"],
        ("config", "~" + what),
    )
    assert problems == []
