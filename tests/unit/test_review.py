"""`review.reviewed_plan`, called directly: what `apply --plan FILE` may apply of a reviewed plan, judged
against the plan the same run makes fresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.errors import PlanRefused
from syncd.models import Action, Change, GroupBaseline, GroupStatus, Health, Held, Plan, Reason
from syncd.plan_file import SavedPlan
from syncd.review import reviewed_plan
from syncd.state import State
from tests.unit.fakes import key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATH = Path("reviewed.json")


def removal(email: str) -> Change:
    reason = Reason("no longer in 'Users' (hr)", "rules[0]", "hr", "Users")
    return Change(key(email), email, Action.UNASSIGN, "Team", "None", reason, target_id=f"id-{email}")


def suspicious_plan() -> Plan:
    """A plan holding one removal because hr/Users shrank past the limit (2 members left)."""
    held = Held(removal("ann@example.com"), "group shrank", cause="suspicious", source="hr", group="Users")
    group = GroupStatus("hr", "Users", Health.SUSPICIOUS, 2)
    return Plan((), 3, 3, held=(held,), groups=(group,))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with State(tmp_path / "state") as opened:
        yield opened


def review(
    state: State, saved: SavedPlan, fresh: Plan, *, override: bool, distrusted: str | None = None
) -> Plan:
    return reviewed_plan(
        saved, PATH, fresh, "fp-now", state=state, now=NOW, override_guards=override, distrusted=distrusted
    )


def test_a_reviewed_plan_is_refused_when_the_clock_is_not_trusted(state: State) -> None:
    plan = suspicious_plan()
    with pytest.raises(PlanRefused, match="clock is not trusted"):
        review(
            state, SavedPlan(plan, "fp-now", NOW, "syncd.toml"), plan, override=False, distrusted="went back"
        )


def test_a_reviewed_plan_is_refused_when_the_world_drifted_since_it_was_made(state: State) -> None:
    plan = suspicious_plan()
    with pytest.raises(PlanRefused, match="drifted"):
        review(state, SavedPlan(plan, "fp-then", NOW, "syncd.toml"), plan, override=False)


def test_a_reviewed_plan_that_releases_nothing_is_applied_as_reviewed_and_moves_no_baseline(
    state: State,
) -> None:
    plan = suspicious_plan()
    saved = SavedPlan(plan, "fp-now", NOW, "syncd.toml")
    assert review(state, saved, plan, override=False) is plan
    assert state.group_baselines() == {}


def test_overriding_guards_releases_the_suspicious_removal_and_takes_the_groups_size_as_its_baseline(
    state: State,
) -> None:
    plan = suspicious_plan()
    approved = review(state, SavedPlan(plan, "fp-now", NOW, "syncd.toml"), plan, override=True)
    assert [(c.email, c.action) for c in approved.changes] == [("ann@example.com", Action.UNASSIGN)]
    assert (approved.held, approved.seats_after) == ((), 2)
    assert state.group_baselines() == {("hr", "Users"): GroupBaseline(2, "", NOW)}
