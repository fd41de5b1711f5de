"""Unhealthy groups and global guards inside a run: what a group that is missing, unreadable, partial or
suspicious holds, what a down source does, and a guard stopping a run before any write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from syncd.errors import ExitCode, GuardTripped
from syncd.models import Action, Health
from tests.unit.fakes import FakeSource
from tests.unit.world import UNGUARDED, UnitWorld


def people(*numbers: int) -> list[str]:
    return [f"u{n}@example.com" for n in numbers]


@pytest.mark.parametrize("health", [Health.MISSING, Health.ERROR, Health.PARTIAL])
def test_a_group_not_read_cleanly_holds_the_removals_it_would_cause_and_the_run_exits_4(
    world: UnitWorld, hr: FakeSource, health: Health
) -> None:
    hr.groups["Users"] = people(1, 2, 3)
    world.run()
    hr.groups["Users"] = people(1)  # what a partial read gets: a part
    hr.health["Users"] = health
    result = world.run()
    assert result.exit_code is ExitCode.PARTIAL
    assert world.target.batches[1:] == []  # nothing sent
    assert set(world.target.seated()) == set(people(1, 2, 3))
    # a missing or unreadable group has no members at all; a partial one still names whom it read
    kept = people(2, 3) if health is Health.PARTIAL else people(1, 2, 3)
    assert {h.change.email: h.cause for h in result.plan.held} == dict.fromkeys(kept, health.value)
    assert any(f"group 'Users' of source hr is {health.value}" in p for p in result.problems)


def test_a_missing_group_of_a_higher_role_holds_the_downgrade_of_its_members(
    world: UnitWorld, hr: FakeSource
) -> None:
    hr.groups["Users"] = people(1, 2)
    hr.groups["Admins"] = people(1)
    world.run()
    del hr.groups["Admins"]  # renamed in the directory: MISSING, never "empty"
    result = world.run()
    assert result.exit_code is ExitCode.PARTIAL
    assert [(h.change.email, h.change.after, h.cause) for h in result.plan.held] == [
        ("u1@example.com", "Team", "missing")
    ]
    assert world.target.seated()["u1@example.com"] == "Administrator"


def test_a_group_that_emptied_is_suspicious_and_holds_its_removals(world: UnitWorld, hr: FakeSource) -> None:
    hr.groups["Users"] = people(1, 2)
    world.run()
    hr.groups["Users"] = []
    result = world.run()
    assert result.exit_code is ExitCode.PARTIAL
    assert {h.cause for h in result.plan.held} == {"suspicious"}
    assert [g.health for g in result.plan.groups if g.group == "Users"] == [Health.SUSPICIOUS]
    assert set(world.target.seated()) == set(people(1, 2))


def test_a_group_that_shrank_too_much_is_suspicious_until_it_is_read_at_a_believable_size(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = world.with_policy(replace(UNGUARDED, max_group_shrink_percent=50.0))
    hr.groups["Users"] = people(1, 2, 3, 4)
    world.run()
    hr.groups["Users"] = people(1)  # 75% gone at once
    assert {h.cause for h in world.run().plan.held} == {"suspicious"}
    hr.groups["Users"] = people(1, 2, 3)  # a believable size again: its removal goes ahead
    result = world.run()
    assert result.exit_code is ExitCode.OK
    assert [(c.action, c.email) for c in result.plan.changes] == [(Action.UNASSIGN, "u4@example.com")]


def test_a_source_down_as_a_whole_holds_everything_it_covers_and_the_run_exits_5(
    world: UnitWorld, hr: FakeSource
) -> None:
    hr.groups["Users"] = people(1, 2)
    world.run()
    hr.unreachable = True
    result = world.run()
    assert result.exit_code is ExitCode.UNREACHABLE
    assert len(world.target.batches) == 1
    assert result.problems[0].startswith("source hr: ")
    assert all(g.health is Health.ERROR for g in result.plan.groups)


def test_a_removal_within_the_grace_period_is_held_and_goes_ahead_once_it_has_passed(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = world.with_policy(replace(UNGUARDED, grace=timedelta(hours=24)))
    hr.groups["Users"] = people(1, 2)
    world.run()
    hr.groups["Users"] = people(2)
    first = world.run()
    assert first.exit_code is ExitCode.OK  # grace is the policy working, not a problem
    assert [(h.change.email, h.cause) for h in first.plan.held] == [("u1@example.com", "grace")]
    world.clock.advance(timedelta(hours=23))
    assert world.run().plan.held != ()
    world.clock.advance(timedelta(hours=2))
    assert [c.email for c in world.run().plan.changes] == ["u1@example.com"]
    assert set(world.target.seated()) == {"u2@example.com"}


def test_a_run_over_the_removal_guard_stops_before_any_write_and_saves_the_plan_for_review(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = world.with_policy(replace(UNGUARDED, max_removals=2))
    hr.groups["Users"] = people(*range(6))
    world.run()
    hr.groups["Users"] = people(0, 1, 2)
    with pytest.raises(GuardTripped) as stopped:
        world.run()
    assert stopped.value.exit_code is ExitCode.GUARD
    assert "3 seat removals exceed policy.max_removals = 2" in str(stopped.value)
    assert len(world.target.batches) == 1
    assert list(world.config.state_dir.glob("refused-plan-*.json"))
    preview = world.plan()  # a preview shows the plan and the guard it would trip
    assert preview.exit_code is ExitCode.GUARD
    assert preview.guard is not None and preview.plan.count(Action.UNASSIGN) == 3


def test_the_removal_window_counts_removals_of_earlier_runs(world: UnitWorld, hr: FakeSource) -> None:
    policy = replace(UNGUARDED, removal_window=timedelta(days=7), window_removal_percent=30.0)
    world = world.with_policy(policy)
    hr.groups["Users"] = people(*range(10))
    world.run()
    hr.groups["Users"] = people(*range(8))  # 2 of 10: 20%
    assert world.run().exit_code is ExitCode.OK
    world.clock.advance(timedelta(days=1))
    hr.groups["Users"] = people(*range(6))  # 2 more: 4 of the 10 held at the window's start
    with pytest.raises(GuardTripped) as stopped:
        world.run()
    assert "(2 by earlier runs, 2 now)" in str(stopped.value)
    world.clock.advance(timedelta(days=7))  # the earlier removals left the window
    assert world.run().exit_code is ExitCode.OK
    assert len(world.target.seated()) == 6
