"""`settle_interrupted`, called directly on a state with the intents of a run that was killed mid-apply:
the target's current roles say what took."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.apply_loop import settle_interrupted
from syncd.audit import AuditLog
from syncd.identity import EmailKey
from syncd.models import NONE_ROLE, Action, Change, LicensedUser, Owned, Reason, rule_identity
from syncd.plan_file import change_to_dict
from syncd.state import State
from tests.unit.fakes import key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KILLED = NOW - timedelta(hours=1)


def change(email: str, action: Action, before: str, after: str) -> Change:
    reason = Reason("member of 'Users' (hr) → Team by rules[0]", "rules[0]", "hr", "Users")
    return Change(key(email), email, action, before, after, reason, target_id=f"id-{email}")


def seats(**roles: str) -> dict[EmailKey, LicensedUser]:
    """The target's rows now: e-mail local part → role."""
    found: dict[EmailKey, LicensedUser] = {}
    for local, role in roles.items():
        email = f"{local}@example.com"
        found[key(email)] = LicensedUser(key(email), email, role, target_id=f"id-{email}")
    return found


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with State(tmp_path / "state") as opened:
        yield opened


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "logs", run_id="next-run", dry_run=False, target="fake", clock=lambda: NOW)
    yield log
    log.close()


def events(tmp_path: Path) -> list[dict[str, object]]:
    lines = []
    for path in sorted((tmp_path / "logs").glob("audit-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines


def test_a_change_the_target_shows_is_recorded_as_owned_and_audited_as_a_recovered_success(
    state: State, audit: AuditLog, tmp_path: Path
) -> None:
    given = change("ann@example.com", Action.ASSIGN, NONE_ROLE, "Team")
    state.write_intent("killed-run", 1, [change_to_dict(given)], KILLED)
    assert settle_interrupted(state, audit, seats(ann="Team"), NOW) == 1
    assert state.pending_intents() == []
    owned = state.owned_with_ids([key("ann@example.com")])[key("ann@example.com")]
    assert owned == Owned("Team", rule_identity("hr", "Users", "Team"), NOW, "id-ann@example.com")
    audit.close()
    [event] = events(tmp_path)
    assert event["event.outcome"] == "success" and event["syncd.recovered"] is True
    assert event["syncd.batch"] == 1


def test_a_change_the_target_does_not_show_is_audited_as_unknown_and_left_to_be_planned_again(
    state: State, audit: AuditLog, tmp_path: Path
) -> None:
    given = change("bob@example.com", Action.ASSIGN, NONE_ROLE, "Team")
    state.write_intent("killed-run", 1, [change_to_dict(given)], KILLED)
    assert settle_interrupted(state, audit, seats(), NOW) == 1
    assert state.pending_intents() == []  # settled: the next plan sees the seat missing and plans it
    assert key("bob@example.com") not in state.owned()
    audit.close()
    [event] = events(tmp_path)
    assert event["event.outcome"] == "unknown"
    assert "run killed-run was interrupted; the target shows None" in str(event["error.message"])


def test_a_removal_that_took_releases_the_seat_and_counts_against_the_removal_window(
    state: State, audit: AuditLog
) -> None:
    state.record_owned({key("cy@example.com"): Owned("Team", "hr:Users→Team", KILLED)})
    removal = change("cy@example.com", Action.UNASSIGN, "Team", NONE_ROLE)
    state.write_intent("killed-run", 1, [change_to_dict(removal)], KILLED)
    assert settle_interrupted(state, audit, seats(), NOW) == 1
    assert key("cy@example.com") not in state.owned()
    assert state.removed_since(KILLED) == {key("cy@example.com"): NOW}


def test_a_role_is_compared_the_way_the_target_spells_it(state: State, audit: AuditLog) -> None:
    promoted = change("di@example.com", Action.CHANGE, "Team", "Administrator")
    state.write_intent("killed-run", 1, [change_to_dict(promoted)], KILLED)
    settle_interrupted(state, audit, seats(di="administrator"), NOW)
    assert state.owned()[key("di@example.com")].role == "Administrator"


def test_every_batch_of_every_interrupted_run_is_settled(state: State, audit: AuditLog) -> None:
    first = change("ann@example.com", Action.ASSIGN, NONE_ROLE, "Team")
    second = change("bob@example.com", Action.ASSIGN, NONE_ROLE, "Team")
    state.write_intent("run-a", 1, [change_to_dict(first)], KILLED)
    state.write_intent("run-b", 2, [change_to_dict(second)], KILLED + timedelta(minutes=5))
    assert settle_interrupted(state, audit, seats(ann="Team", bob="Team"), NOW) == 2
    assert state.pending_intents() == []
    assert set(state.owned()) == {key("ann@example.com"), key("bob@example.com")}


def test_without_interrupted_runs_nothing_is_settled_or_audited(
    state: State, audit: AuditLog, tmp_path: Path
) -> None:
    assert settle_interrupted(state, audit, seats(ann="Team"), NOW) == 0
    assert state.owned() == {}
    audit.close()
    assert events(tmp_path) == []
