"""The seat cap: the configured `policy.seat_limit` and the count the target reports; the lower wins,
removals free seats first, and the blocked are served by role, then by who waited longest."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from syncd.errors import ExitCode
from tests.unit.fakes import FakeSource
from tests.unit.world import UNGUARDED, UnitWorld


def people(*numbers: int) -> list[str]:
    return [f"u{n}@example.com" for n in numbers]


def capped(world: UnitWorld, limit: int | None) -> UnitWorld:
    return world.with_policy(replace(UNGUARDED, seat_limit=limit))


def test_assignments_beyond_the_configured_cap_are_blocked_and_the_run_still_exits_0(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = capped(world, 3)
    hr.groups["Users"] = people(0, 1, 2, 3, 4)
    result = world.run()
    assert result.exit_code is ExitCode.OK  # the policy working, not a failure
    assert sorted(world.target.seated()) == people(0, 1, 2)
    assert [c.email for c in result.plan.blocked] == people(3, 4)
    assert result.plan.seat_limit == 3
    assert "2 assignment(s) blocked by the seat limit of 3; retried every run" in result.plan.notes


def test_a_higher_role_gets_a_seat_before_a_lower_one(world: UnitWorld, hr: FakeSource) -> None:
    world = capped(world, 1)
    hr.groups["Users"] = people(0)
    hr.groups["Admins"] = people(9)
    world.run()
    assert world.target.seated() == {"u9@example.com": "Administrator"}


def test_the_lower_of_the_configured_and_the_reported_cap_wins(world: UnitWorld, hr: FakeSource) -> None:
    world.target.assignable = 2
    hr.groups["Users"] = people(0, 1, 2, 3)
    assert world.run().plan.seat_limit == 2
    assert len(world.target.seated()) == 2
    tighter = capped(world, 1)  # seats held already above the cap are never taken away for it
    assert tighter.plan().plan.changes == ()


def test_a_removal_frees_its_seat_for_an_assignment_in_the_same_run(world: UnitWorld, hr: FakeSource) -> None:
    world = capped(world, 2)
    hr.groups["Users"] = people(0, 1)
    world.run()
    hr.groups["Users"] = people(1, 2)
    result = world.run()
    assert result.plan.blocked == ()
    assert sorted(world.target.seated()) == people(1, 2)


def test_a_blocked_person_waiting_longest_gets_the_next_free_seat(world: UnitWorld, hr: FakeSource) -> None:
    world = capped(world, 1)
    hr.groups["Users"] = people(5, 9)
    world.run()  # u5 seated, u9 blocked and waiting from now on
    world.clock.advance(timedelta(hours=1))
    hr.groups["Users"] = people(1, 9)  # u5 leaves; u1 is newer, though first by e-mail
    result = world.run()
    assert sorted(world.target.seated()) == people(9)
    assert [c.email for c in result.plan.blocked] == people(1)


def test_a_plan_does_not_record_waiting_times_so_previews_never_change_the_queue(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = capped(world, 1)
    hr.groups["Users"] = people(5)
    world.run()
    hr.groups["Users"] = people(5, 9)
    world.plan()  # u9 blocked in a preview only
    world.clock.advance(timedelta(hours=1))
    hr.groups["Users"] = people(1, 9)
    world.run()
    assert sorted(world.target.seated()) == people(1)  # no head start for u9: the e-mail decides
