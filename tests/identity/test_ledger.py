"""The ownership ledger by stable ids: schema 1 → 4 carries every entry over (and a schema-2 database of
either branch that shipped one); renames move keys and are kept."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.identity import EmailKey
from syncd.models import Owned, Renamed
from syncd.state import SCHEMA_VERSION, STATE_FILE, State

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SCHEMA_1 = """
CREATE TABLE owned (key TEXT PRIMARY KEY, role TEXT NOT NULL, rule TEXT NOT NULL, since TEXT NOT NULL);
CREATE TABLE absent (key TEXT PRIMARY KEY, since TEXT NOT NULL);
CREATE TABLE waiting (key TEXT PRIMARY KEY, since TEXT NOT NULL);
CREATE TABLE group_reads (
    source TEXT NOT NULL, grp TEXT NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL,
    read_at TEXT NOT NULL, PRIMARY KEY (source, grp));
CREATE TABLE intents (
    run_id TEXT NOT NULL, batch INTEGER NOT NULL, changes TEXT NOT NULL, written_at TEXT NOT NULL,
    PRIMARY KEY (run_id, batch));
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, command TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
    exit_code INTEGER, summary TEXT);
"""


def test_a_schema_1_ledger_is_carried_over_with_empty_ids(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / STATE_FILE)
    db.executescript(SCHEMA_1)
    db.executemany(
        "INSERT INTO owned VALUES (?, ?, ?, ?)",
        [
            ("ann@contoso.com", "Team", "hr:Users→Team", NOW.isoformat()),
            ("bob@contoso.com", "Team", "r", "2026-01-01T00:00:00+00:00"),
        ],
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with State(tmp_path) as state:
        ledger = state.owned()
        assert ledger[EmailKey("ann@contoso.com")] == Owned("Team", "hr:Users→Team", NOW)
        assert len(ledger) == 2
        state.record_owned({EmailKey("ann@contoso.com"): Owned("Team", "r", NOW, "7", "v7", "guid-ann")})
    with State(tmp_path) as state:
        full = Owned("Team", "r", NOW, "7", "v7", "guid-ann")
        assert state.owned_with_ids()[EmailKey("ann@contoso.com")] == full
        assert state.owned_with_ids(["ann@contoso.com"]) == {"ann@contoso.com": full}
        assert state.owned()[EmailKey("ann@contoso.com")] == Owned("Team", "r", NOW)  # ids loaded on demand
        assert state.keys_without_seat_ids() == {"bob@contoso.com"}
    # issue 16's ids step is schema 3 since the merge with issue 21 (whose tables are schema 2)
    assert (
        sqlite3.connect(tmp_path / STATE_FILE).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    )


# what each branch shipped as schema 2 (merged: issue 21's tables are step 2, issue 16's ids step 3)
ISSUE_16_SCHEMA_2 = """
ALTER TABLE owned ADD COLUMN target_id TEXT NOT NULL DEFAULT '';
ALTER TABLE owned ADD COLUMN vsts_id TEXT NOT NULL DEFAULT '';
ALTER TABLE owned ADD COLUMN person_id TEXT NOT NULL DEFAULT '';
CREATE TABLE renames (
    before TEXT NOT NULL, after TEXT NOT NULL, person_id TEXT NOT NULL, target_id TEXT NOT NULL,
    how TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX renames_before ON renames (before);
CREATE INDEX renames_after ON renames (after);
"""
ISSUE_21_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS run_clock (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, started TEXT NOT NULL,
    trusted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS target (field TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS removed (
    key TEXT NOT NULL, role TEXT NOT NULL, at TEXT NOT NULL, run_id TEXT NOT NULL,
    PRIMARY KEY (key, at));
"""


ISSUE_18_SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS activity (user_id TEXT PRIMARY KEY, last TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activity_reads (name TEXT PRIMARY KEY, covered_from TEXT NOT NULL, read_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reclaimed (
    key TEXT PRIMARY KEY, email TEXT NOT NULL, role TEXT NOT NULL, rule TEXT NOT NULL,
    since TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reclaim_warnings (key TEXT PRIMARY KEY, warned_at TEXT NOT NULL);
"""


@pytest.mark.parametrize("branch", ["issue16", "issue21", "issue18"])
def test_a_schema_2_database_of_either_branch_migrates_keeping_its_ledger(
    tmp_path: Path, branch: str
) -> None:
    db = sqlite3.connect(tmp_path / STATE_FILE)
    # issue16: its schema 2; issue21: main's schema 2; issue18: main's schema 3 (issue 21's + the idle tables)
    extra = {
        "issue16": ISSUE_16_SCHEMA_2,
        "issue21": ISSUE_21_SCHEMA_2,
        "issue18": ISSUE_21_SCHEMA_2 + ISSUE_18_SCHEMA_3,
    }[branch]
    db.executescript(SCHEMA_1 + extra)
    if branch == "issue16":
        db.execute(
            "INSERT INTO owned VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("ann@contoso.com", "Team", "r", NOW.isoformat(), "7", "v7", "guid-ann"),
        )
        db.execute(
            "INSERT INTO renames VALUES (?, ?, ?, ?, ?, ?)",
            (
                "ann.smith@contoso.com",
                "ann@contoso.com",
                "guid-ann",
                "7",
                "same immutable id",
                NOW.isoformat(),
            ),
        )
    else:
        db.execute("INSERT INTO owned VALUES (?, ?, ?, ?)", ("ann@contoso.com", "Team", "r", NOW.isoformat()))
        db.execute(
            "INSERT INTO removed VALUES (?, ?, ?, ?)", ("bob@contoso.com", "Team", NOW.isoformat(), "r1")
        )
    db.execute(f"PRAGMA user_version = {3 if branch == 'issue18' else 2}")
    db.commit()
    db.close()
    with State(tmp_path) as state:
        ids = ("7", "v7", "guid-ann") if branch == "issue16" else ("", "", "")
        assert state.owned_with_ids()[EmailKey("ann@contoso.com")] == Owned("Team", "r", NOW, *ids)
        # both steps' tables are there and usable, whichever branch made the file
        state.rekey(
            {EmailKey("ann@contoso.com"): EmailKey("ann.lee@contoso.com")},
            [
                Renamed(
                    EmailKey("ann.lee@contoso.com"), EmailKey("ann@contoso.com"), "Ann", "same 7pace user 7"
                )
            ],
            NOW,
        )
        moves = {(before, after) for before, after, _, _ in state.renames_of(["ann.lee@contoso.com"])}
        assert ("ann@contoso.com", "ann.lee@contoso.com") in moves
        state.record_removed("r2", {EmailKey("carl@contoso.com"): "Team"}, NOW)
        assert EmailKey("carl@contoso.com") in state.removed_since(NOW - timedelta(days=1))
    again = sqlite3.connect(tmp_path / STATE_FILE)
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {row[1] for row in again.execute("PRAGMA table_info(owned)")}
    assert {"target_id", "vsts_id", "person_id"} <= columns
    tables = {name for (name,) in again.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"renames", "run_clock", "removed", "target", "activity", "reclaimed"} <= tables


def test_rekey_moves_the_entry_and_its_observations_and_remembers_the_rename(tmp_path: Path) -> None:
    old, new, newest = (
        EmailKey("ann.smith@contoso.com"),
        EmailKey("ann.jones@contoso.com"),
        EmailKey("ann@jones.example"),
    )
    with State(tmp_path) as state:
        state.record_owned({old: Owned("Team", "r", NOW, "7", "", "guid-ann")})
        state.replace_observations({old: NOW}, {})
        state.rekey({old: new}, [Renamed(new, old, "Ann", "same immutable id guid-ann", "7")], NOW)
        assert list(state.owned_with_ids()) == [new] and list(state.absent_since()) == [new]
        state.rekey({new: newest}, [Renamed(newest, new, "Ann", "same 7pace user 7", "7")], NOW)
        history = state.renames_of([old])
    assert [(b, a) for b, a, _, _ in history] == [(old, new), (new, newest)]


def test_rekey_swaps_two_entries(tmp_path: Path) -> None:
    a, b = EmailKey("a@contoso.com"), EmailKey("b@contoso.com")
    with State(tmp_path) as state:
        state.record_owned(
            {a: Owned("Team", "r", NOW, "7", "", "guid-ann"), b: Owned("Team", "r", NOW, "8", "", "guid-bob")}
        )
        state.rekey({a: b, b: a}, [], NOW)
        ledger = state.owned_with_ids()
    assert (ledger[b].person_id, ledger[a].person_id) == ("guid-ann", "guid-bob")
