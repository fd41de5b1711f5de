"""The idle-seat tables: an additive migration (a schema-1 database keeps its data) and merge-by-max."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.identity import EmailKey
from syncd.reclaim_state import Reclaimed, ReclaimState
from syncd.state import _MIGRATIONS, STATE_FILE, State

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_schema_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / STATE_FILE)
    db.executescript(_MIGRATIONS[0])
    db.execute("INSERT INTO owned VALUES ('a@example.com', 'Team', 'hr:Users→Team', ?)", (NOW.isoformat(),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with State(tmp_path) as state:
        assert list(state.owned()) == ["a@example.com"]
        store = ReclaimState(state)
        assert store.reclaimed() == {} and store.coverage() is None and store.activity() == {}


def test_reads_merge_by_max_and_reclaims_are_remembered(tmp_path: Path) -> None:
    with State(tmp_path) as state:
        store = ReclaimState(state)
        merged = store.record_read({"u1": NOW - timedelta(days=3)}, NOW - timedelta(days=61), NOW)
        assert merged == {"u1": NOW - timedelta(days=3)}
        # an older worklog read later (overlap, re-delivered page) never moves activity back
        merged = store.record_read({"u1": NOW - timedelta(days=9), "u2": NOW}, NOW, NOW + timedelta(hours=1))
        assert merged == {"u1": NOW - timedelta(days=3), "u2": NOW}
        coverage = store.coverage()
        assert (
            coverage is not None
            and coverage.covered_from == NOW
            and coverage.read_at == NOW + timedelta(hours=1)
        )
        key = EmailKey("a@example.com")
        store.replace_warnings({key: NOW})
        store.record_reclaimed([Reclaimed(key, "A@example.com", "Team", "reclaim", NOW, "idle")])
        assert store.warnings() == {}  # a reclaim clears its warning
        assert store.reclaimed()[key].email == "A@example.com"
        assert store.forget_reclaimed([key, EmailKey("b@example.com")]) == 1
        assert store.reclaimed() == {}
