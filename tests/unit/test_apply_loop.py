"""The apply loop, through `Cycle` with in-memory fakes and a temp state folder: what is sent, in which
order and batches, what is recorded when a batch fails, is lost or the target goes away, and that the next
run converges."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from syncd.errors import ExitCode, TargetUnreachable
from syncd.models import Action, Outcome
from syncd.state import State
from syncd.target_read import ReadHealth, TargetReadRefused
from tests.unit.fakes import FakeSource, FakeTarget
from tests.unit.world import DRY_RUN, UNGUARDED, UnitWorld, make_config


def people(*numbers: int) -> list[str]:
    return [f"u{n}@example.com" for n in numbers]


def actions(target: FakeTarget) -> list[list[tuple[str, str]]]:
    """Each batch sent, as (action, e-mail) pairs."""
    return [[(c.action.value, c.email) for c in batch] for batch in target.batches]


def audit_events(root: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted((root / "logs").glob("audit-*.jsonl")):
        events += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return events


def pending(world: UnitWorld) -> int:
    with State(world.config.state_dir) as state:
        return len(state.pending_intents())


def test_a_run_assigns_the_members_and_a_plan_right_after_it_is_empty(
    world: UnitWorld, hr: FakeSource
) -> None:
    hr.groups["Users"] = people(1, 2)
    hr.groups["Admins"] = people(3)
    result = world.run()
    assert result.exit_code is ExitCode.OK
    assert world.target.seated() == {
        "u1@example.com": "Team",
        "u2@example.com": "Team",
        "u3@example.com": "Administrator",
    }
    assert [r.outcome for r in result.results] == [Outcome.SUCCESS] * 3
    assert result.seats_after == 3
    again = world.plan()
    assert again.plan.changes == () and again.exit_code is ExitCode.OK


def test_removals_go_first_in_batches_of_their_own_then_role_changes_then_assignments(
    world: UnitWorld, hr: FakeSource
) -> None:
    hr.groups["Users"] = people(1, 2, 3)
    world.run()
    world.target.batches.clear()
    hr.groups["Users"] = people(2, 4)  # u1 leaves, u4 joins
    hr.groups["Admins"] = people(3)  # u3 is promoted
    result = world.run()
    assert result.exit_code is ExitCode.OK
    assert actions(world.target) == [
        [("seat-unassign", "u1@example.com")],
        [("role-change", "u3@example.com"), ("seat-assign", "u4@example.com")],
    ]
    assert world.target.seated() == {
        "u2@example.com": "Team",
        "u3@example.com": "Administrator",
        "u4@example.com": "Team",
    }


def test_batches_hold_at_most_the_target_s_batch_size(tmp_path: Path, hr: FakeSource) -> None:
    world = UnitWorld(
        make_config(tmp_path, [hr]), FakeTarget(dict.fromkeys(people(*range(5)), "None"), batch_size=2)
    )
    hr.groups["Users"] = people(*range(5))
    world.run()
    assert [len(b) for b in world.target.batches] == [2, 2, 1]


def test_a_removal_never_shares_a_batch_with_an_assignment(world: UnitWorld, hr: FakeSource) -> None:
    hr.groups["Users"] = people(1, 2, 3)
    world.run()
    world.target.batches.clear()
    hr.groups["Users"] = people(4)
    world.run()
    assert [[a for a, _ in batch] for batch in actions(world.target)] == [
        ["seat-unassign"] * 3,
        ["seat-assign"],
    ]


def test_a_dry_run_sends_nothing_and_says_what_it_would_do(world: UnitWorld, hr: FakeSource) -> None:
    hr.groups["Users"] = people(1, 2)
    result = world.run(DRY_RUN)
    assert world.target.batches == []
    assert world.target.seated() == {}
    assert [c.email for c in result.plan.changes] == people(1, 2)
    planned = [e for e in audit_events(world.config.file.parent) if e["event.action"] == "seat-assign"]
    assert len(planned) == 2 and all(e["syncd.dry_run"] for e in planned)


def test_a_failing_batch_is_reported_left_unrecorded_and_planned_again(
    tmp_path: Path, hr: FakeSource
) -> None:
    target = FakeTarget(dict.fromkeys(people(*range(4)), "None"), batch_size=2)
    target.script.fail = {2}
    world = UnitWorld(make_config(tmp_path, [hr]), target)
    hr.groups["Users"] = people(*range(4))
    result = world.run()
    assert result.exit_code is ExitCode.PARTIAL
    assert [r.outcome for r in result.results] == [Outcome.SUCCESS] * 2 + [Outcome.FAILURE] * 2
    assert "u2@example.com: seat-assign failure: refused (scripted)" in result.problems
    assert result.seats_after == 2  # what the target confirmed, not what was planned
    assert pending(world) == 0  # a refused batch has a known outcome: nothing left to settle
    replan = world.plan()
    assert [c.email for c in replan.plan.changes] == people(2, 3)
    assert world.run().exit_code is ExitCode.OK
    assert world.plan().plan.changes == ()
    assert set(target.seated()) == set(people(*range(4)))


def test_a_batch_whose_answer_is_lost_is_settled_by_the_next_run_without_sending_it_again(
    world: UnitWorld, hr: FakeSource
) -> None:
    world.target.script.unknown = {1}  # the changes take, the answer does not come back
    hr.groups["Users"] = people(1, 2)
    result = world.run()
    assert result.exit_code is ExitCode.PARTIAL
    assert [r.outcome for r in result.results] == [Outcome.UNKNOWN] * 2
    assert pending(world) == 1  # the intent is kept for the next run

    following = world.run()
    assert following.exit_code is ExitCode.OK
    assert len(world.target.batches) == 1  # nothing sent twice
    assert pending(world) == 0
    recovered = [e for e in audit_events(world.config.file.parent) if e.get("syncd.recovered")]
    assert [(e["user.target.email"], e["event.outcome"]) for e in recovered] == [
        ("u1@example.com", "success"),
        ("u2@example.com", "success"),
    ]
    assert world.plan().plan.changes == ()


def test_a_batch_lost_before_it_took_is_planned_and_sent_again_by_the_next_run(
    world: UnitWorld, hr: FakeSource
) -> None:
    world.target.script.unknown_not_taken = {1}
    hr.groups["Users"] = people(1, 2)
    assert world.run().exit_code is ExitCode.PARTIAL
    assert world.target.seated() == {}

    following = world.run()
    assert following.exit_code is ExitCode.OK
    assert actions(world.target)[1] == [("seat-assign", "u1@example.com"), ("seat-assign", "u2@example.com")]
    assert world.target.seated() == {"u1@example.com": "Team", "u2@example.com": "Team"}
    assert world.plan().plan.changes == ()


def test_a_target_lost_mid_apply_stops_the_run_keeps_the_batch_s_intent_and_the_next_run_finishes(
    tmp_path: Path, hr: FakeSource
) -> None:
    target = FakeTarget(dict.fromkeys(people(*range(3)), "None"), batch_size=1)
    target.script.unreachable = {2}
    world = UnitWorld(make_config(tmp_path, [hr]), target)
    hr.groups["Users"] = people(*range(3))
    with pytest.raises(TargetUnreachable) as stopped:
        world.run()
    assert stopped.value.exit_code is ExitCode.UNREACHABLE
    assert target.seated() == {"u0@example.com": "Team"}  # batch 3 was never sent
    assert len(target.batches) == 2
    assert pending(world) == 1

    assert world.run().exit_code is ExitCode.OK
    assert pending(world) == 0
    unknown = [
        e for e in audit_events(tmp_path) if e.get("syncd.recovered") and e["event.outcome"] == "unknown"
    ]
    assert [e["user.target.email"] for e in unknown] == ["u1@example.com"]  # it did not show: planned again
    assert set(target.seated()) == set(people(*range(3)))
    assert world.plan().plan.changes == ()


def test_a_target_read_refused_as_partial_stops_the_run_before_any_write(
    world: UnitWorld, hr: FakeSource
) -> None:
    hr.groups["Users"] = people(1)
    world.target.refuse_read = ReadHealth.PARTIAL
    with pytest.raises(TargetReadRefused) as refused:
        world.run()
    assert refused.value.exit_code is ExitCode.UNREACHABLE
    assert "target read partial" in str(refused.value)
    assert world.target.batches == []


def test_a_seat_syncd_gave_is_removed_when_its_holder_leaves_and_one_given_by_hand_is_kept(
    world: UnitWorld, hr: FakeSource
) -> None:
    world.target.users["boss@example.com"] = "Team"  # assigned outside syncd, in no group
    hr.groups["Users"] = people(1, 2)
    world.run()
    hr.groups["Users"] = people(2)
    result = world.run()
    assert result.exit_code is ExitCode.OK
    assert [(c.action, c.email) for c in result.plan.changes] == [(Action.UNASSIGN, "u1@example.com")]
    assert world.target.seated() == {"boss@example.com": "Team", "u2@example.com": "Team"}


def test_a_seat_settled_from_a_lost_batch_is_syncd_s_own_in_that_same_run(
    world: UnitWorld, hr: FakeSource
) -> None:
    world = world.with_policy(replace(UNGUARDED, adopt=False))  # only what syncd gave is its own
    world.target.script.unknown = {1}
    hr.groups["Users"] = people(1, 2)
    world.run()
    hr.groups["Users"] = people(2)  # u1 left before the next run settled the batch
    result = world.run()
    assert [(c.action, c.email) for c in result.plan.changes] == [(Action.UNASSIGN, "u1@example.com")]
    assert world.target.seated() == {"u2@example.com": "Team"}
