"""SQLite state and the run lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.errors import LockHeld, StateError
from syncd.identity import EmailKey
from syncd.models import GroupBaseline, Owned
from syncd.runlock import RunLock
from syncd.state import SCHEMA_VERSION, State

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANN = EmailKey("ann@example.com")
BOB = EmailKey("bob@example.com")


def test_ledger_observations_baselines_round_trip(tmp_path: Path) -> None:
    with State(tmp_path) as state:
        state.record_owned({ANN: Owned("Team", "hr:G→Team", NOW), BOB: Owned("Budget", "hr:F→Budget", NOW)})
        state.forget_owned([BOB])
        state.replace_observations({ANN: NOW}, {BOB: NOW - timedelta(days=1)})
        state.record_group_reads({("hr", "G"): GroupBaseline(3, "abc", NOW)})
    with State(tmp_path) as state:
        assert state.owned() == {ANN: Owned("Team", "hr:G→Team", NOW)}
        assert state.absent_since() == {ANN: NOW}
        assert state.waiting_since() == {BOB: NOW - timedelta(days=1)}
        assert state.group_baselines() == {("hr", "G"): GroupBaseline(3, "abc", NOW)}
        state.replace_observations({}, {})
        assert state.absent_since() == {} and state.waiting_since() == {}


def test_intents_are_settled_atomically(tmp_path: Path) -> None:
    with State(tmp_path) as state:
        state.write_intent("run1", 1, [{"key": ANN, "after": "Team"}], NOW)
        state.write_intent("run1", 2, [{"key": BOB, "after": "None"}], NOW)
        assert [(i.run_id, i.batch) for i in state.pending_intents()] == [("run1", 1), ("run1", 2)]
        state.record_owned({BOB: Owned("Team", "r", NOW)})
        state.settle_intent("run1", 2, {}, [BOB])
        state.settle_intent("run1", 1, {ANN: Owned("Team", "r", NOW)}, [])
        assert state.pending_intents() == []
        assert set(state.owned()) == {ANN}


def test_schema_version_is_recorded_and_newer_refused(tmp_path: Path) -> None:
    State(tmp_path).close()
    db = sqlite3.connect(tmp_path / "syncd.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer than this syncd understands"):
        State(tmp_path)


def test_corrupt_state_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "syncd.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="is unusable"):
        State(tmp_path)


def test_run_history(tmp_path: Path) -> None:
    with State(tmp_path) as state:
        state.start_run("a", "run", NOW)
        state.finish_run("a", 0, {"applied": 3}, NOW + timedelta(seconds=5))
        state.start_run("b", "run", NOW + timedelta(hours=1))
        runs = state.recent_runs()
    assert [(r.run_id, r.exit_code, r.summary) for r in runs] == [("b", None, {}), ("a", 0, {"applied": 3})]


def test_second_lock_holder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    with RunLock(tmp_path, "run"):
        with pytest.raises(LockHeld) as caught, RunLock(tmp_path, "apply"):
            pass
    assert "another syncd run holds the lock" in str(caught.value)
    assert "(run, since" in str(caught.value)
    with RunLock(tmp_path, "plan"):  # released: free again
        pass


def test_lock_of_a_killed_process_is_not_stale(tmp_path: Path) -> None:
    # A holder killed by SIGKILL never releases anything itself; the OS lock dies with it.
    code = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from syncd.runlock import RunLock
        lock = RunLock(Path({str(tmp_path)!r}), "run").__enter__()
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld, match=f"pid {child.pid}"), RunLock(tmp_path, "run"):
            pass
        child.kill()
        child.wait(timeout=10)
        with RunLock(tmp_path, "run"):
            pass
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_issue_21_records_round_trip(tmp_path: Path) -> None:
    """Run clocks in insertion order (not the clock's), the target binding, and removals kept 90 days."""
    with State(tmp_path) as state:
        assert state.last_trusted_start() is None and state.target_binding() == {}
        state.record_run_clock("r1", NOW, trusted=True)
        state.record_run_clock("r2", NOW + timedelta(days=500), trusted=False)
        state.record_run_clock("r3", NOW - timedelta(hours=1), trusted=True)
        assert state.last_trusted_start() == NOW - timedelta(hours=1)
        state.bind_target({"type": "timetracker", "url": "a.example", "organisation": "a"})
        state.record_removed("r1", {ANN: "Team"}, NOW - timedelta(days=100))
        state.record_removed("r3", {BOB: "Budget"}, NOW)
        assert state.removed_since(NOW - timedelta(days=7)) == {BOB: NOW}
        assert state.removed_since(NOW - timedelta(days=365)) == {BOB: NOW}  # ann's is older than 90 days
    with State(tmp_path) as state:
        assert state.target_binding() == {"type": "timetracker", "url": "a.example", "organisation": "a"}


def test_a_state_without_its_schema_is_damage_not_a_first_run(tmp_path: Path) -> None:
    from syncd.errors import StateDamaged

    (tmp_path / "syncd.sqlite3").write_bytes(b"")
    with pytest.raises(StateDamaged, match="exists but holds no syncd state"):
        State(tmp_path)
    (tmp_path / "syncd.sqlite3").unlink()
    with pytest.raises(StateDamaged, match="is missing, but runs happened"):
        State(tmp_path, ran_before=True)
    assert not (tmp_path / "syncd.sqlite3").exists()  # nothing created
