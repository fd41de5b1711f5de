"""The guards, called directly: health judging, global removal guards, the removal window, and what a
hold explains. Plain values in, a verdict out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.errors import SourceUnreachable
from syncd.guards import check_guards, held_problems, judge_health, unhealthy_groups
from syncd.models import (
    NONE_ROLE,
    Action,
    Change,
    GroupBaseline,
    GroupRead,
    GroupStatus,
    Health,
    Held,
    Person,
    Plan,
    Policy,
    Reason,
    Rule,
)
from tests.unit.fakes import key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LAST_WEEK = NOW - timedelta(days=7)
PAIR = ("hr", "Users")


def read(size: int, health: Health = Health.OK) -> GroupRead:
    members = tuple(Person(key(f"p{n}@example.com"), f"p{n}@example.com") for n in range(size))
    return GroupRead("hr", "Users", health, members)


def baseline(size: int) -> dict[tuple[str, str], GroupBaseline]:
    return {PAIR: GroupBaseline(size, "digest", LAST_WEEK)}


def change(n: int, action: Action = Action.UNASSIGN) -> Change:
    email = f"p{n}@example.com"
    before, after = ("Team", NONE_ROLE) if action is Action.UNASSIGN else (NONE_ROLE, "Team")
    return Change(key(email), email, action, before, after, Reason("test"))


def plan(removals: int, seats_before: int, assignments: int = 0) -> Plan:
    changes = tuple(change(n) for n in range(removals))
    changes += tuple(change(1000 + n, Action.ASSIGN) for n in range(assignments))
    return Plan(changes, seats_before, seats_before - removals + assignments)


# -- health judging ------------------------------------------------------------------------------------


def test_a_group_read_for_the_first_time_is_ok_even_when_empty_and_becomes_the_baseline() -> None:
    judged, good = judge_health({PAIR: read(0)}, {}, 50.0, NOW)
    assert judged[PAIR].health is Health.OK
    assert good[PAIR].size == 0 and good[PAIR].read_at == NOW


def test_a_group_that_emptied_since_its_last_good_read_is_suspicious_and_keeps_its_old_baseline() -> None:
    judged, good = judge_health({PAIR: read(0)}, baseline(12), 50.0, NOW)
    assert judged[PAIR].health is Health.SUSPICIOUS
    assert "empty now, 12 member(s) at its last good read (2026-02-23 09:00 UTC)" in judged[PAIR].detail
    assert PAIR not in good  # a suspicious read never lowers the bar for the next run


def test_a_group_that_shrank_more_than_the_policy_allows_is_suspicious() -> None:
    judged, good = judge_health({PAIR: read(4)}, baseline(10), 50.0, NOW)
    assert judged[PAIR].health is Health.SUSPICIOUS
    assert "shrank 60% (10 → 4)" in judged[PAIR].detail
    assert "policy.max_group_shrink_percent = 50" in judged[PAIR].detail
    assert PAIR not in good


def test_a_group_that_shrank_exactly_the_allowed_share_is_ok_and_is_the_new_baseline() -> None:
    judged, good = judge_health({PAIR: read(5)}, baseline(10), 50.0, NOW)
    assert judged[PAIR].health is Health.OK
    assert good[PAIR].size == 5 and good[PAIR].read_at == NOW


def test_a_group_that_grew_is_ok() -> None:
    judged, good = judge_health({PAIR: read(30)}, baseline(10), 50.0, NOW)
    assert judged[PAIR].health is Health.OK
    assert good[PAIR].size == 30


def test_two_groups_with_the_same_members_have_the_same_digest_and_other_members_another() -> None:
    other = ("hr", "Admins")
    same = GroupRead("hr", "Admins", Health.OK, tuple(reversed(read(3).members)))
    _, good = judge_health({PAIR: read(3), other: same}, {}, 50.0, NOW)
    assert good[PAIR].digest == good[other].digest
    _, changed = judge_health({PAIR: read(4)}, {}, 50.0, NOW)
    assert changed[PAIR].digest != good[PAIR].digest


def test_a_read_the_source_judged_unhealthy_passes_unchanged_and_records_no_baseline() -> None:
    for health in (Health.MISSING, Health.ERROR, Health.PARTIAL):
        judged, good = judge_health({PAIR: read(3, health)}, baseline(3), 50.0, NOW)
        assert judged[PAIR].health is health
        assert good == {}


# -- unhealthy groups ----------------------------------------------------------------------------------

RANK = {"Administrator": 4, "Budget": 3, "Product": 2, "Team": 1}.__getitem__


def test_a_group_not_read_cleanly_is_held_at_the_highest_role_any_rule_gives_through_it() -> None:
    rules = [
        Rule(0, "hr", "Users", "Team"),
        Rule(1, "hr", "Users", "Product"),
        Rule(2, "hr", "Admins", "Team"),
    ]
    reads = {PAIR: read(2, Health.PARTIAL), ("hr", "Admins"): GroupRead("hr", "Admins", Health.OK)}
    [held] = unhealthy_groups(rules, reads, RANK)
    assert (held.source, held.group, held.health, held.rank) == (
        "hr",
        "Users",
        Health.PARTIAL,
        RANK("Product"),
    )


def test_groups_read_cleanly_hold_nothing() -> None:
    assert unhealthy_groups([Rule(0, "hr", "Users", "Team")], {PAIR: read(3)}, RANK) == []


def test_a_suspicious_group_holds_like_a_missing_one_and_keeps_its_detail() -> None:
    judged, _ = judge_health({PAIR: read(0)}, baseline(8), 50.0, NOW)
    [held] = unhealthy_groups([Rule(0, "hr", "Users", "Administrator")], judged, RANK)
    assert held.health is Health.SUSPICIOUS and held.rank == RANK("Administrator")
    assert held.detail.startswith("empty now, 8 member(s)")


# -- global guards -------------------------------------------------------------------------------------

GENEROUS = Policy(max_removals=1000, max_removal_percent=100.0, removal_window=timedelta(0))


def test_more_removals_than_max_removals_stop_the_run_and_as_many_do_not() -> None:
    policy = Policy(max_removals=3, max_removal_percent=100.0, removal_window=timedelta(0))
    assert check_guards(policy, plan(3, 1000)) is None
    why = check_guards(policy, plan(4, 1000))
    assert why == "4 seat removals exceed policy.max_removals = 3"


def test_removals_above_the_percentage_of_seats_stop_the_run_and_exactly_that_share_does_not() -> None:
    policy = Policy(max_removals=1000, max_removal_percent=10.0, removal_window=timedelta(0))
    assert check_guards(policy, plan(2, 20)) is None
    why = check_guards(policy, plan(3, 20))
    assert why is not None
    assert "3 seat removals are 15.0% of 20 seats, above policy.max_removal_percent = 10" in why


def test_assignments_and_role_changes_never_trip_a_removal_guard() -> None:
    policy = Policy(max_removals=0, max_removal_percent=0.0)
    assert check_guards(policy, plan(0, 10, assignments=500)) is None


def test_a_target_without_seats_is_judged_by_the_absolute_bound_only() -> None:
    policy = Policy(max_removals=5, max_removal_percent=1.0, removal_window=timedelta(0))
    assert check_guards(policy, plan(0, 0)) is None


# -- removal window ------------------------------------------------------------------------------------


def window_policy(percent: float = 20.0, window: timedelta = timedelta(days=7)) -> Policy:
    return Policy(
        max_removals=1000, max_removal_percent=100.0, removal_window=window, window_removal_percent=percent
    )


def test_removals_of_earlier_runs_count_against_the_window_budget() -> None:
    # 80 seats now, 20 removed earlier in the window: 100 at its start; 5 more make 25%
    why = check_guards(window_policy(20.0), plan(5, 80), removed_in_window=20)
    assert why is not None
    assert "25 seat removals within policy.removal_window = 7d (20 by earlier runs, 5 now)" in why
    assert "25.0% of the 100 seats held at its start" in why
    assert "policy.max_window_removal_percent = 20" in why


def test_removals_within_the_window_budget_pass() -> None:
    assert check_guards(window_policy(20.0), plan(5, 85), removed_in_window=15) is None  # 20 of 100


def test_a_run_that_removes_nothing_passes_however_much_earlier_runs_removed() -> None:
    assert check_guards(window_policy(5.0), plan(0, 50), removed_in_window=50) is None


def test_a_zero_removal_window_switches_the_window_guard_off() -> None:
    policy = window_policy(1.0, window=timedelta(0))
    assert check_guards(policy, plan(5, 80), removed_in_window=70) is None


def test_the_window_is_named_in_hours_when_it_is_not_whole_days() -> None:
    why = check_guards(window_policy(1.0, window=timedelta(hours=36)), plan(5, 80), removed_in_window=20)
    assert why is not None and "policy.removal_window = 36h" in why


def test_the_default_window_budget_is_two_and_a_half_times_the_per_run_share() -> None:
    policy = Policy(max_removals=1000, max_removal_percent=10.0)  # window: 7 days, 25%
    # 80 seats now and 20 removed earlier: 100 at the window's start
    assert check_guards(policy, plan(5, 80), removed_in_window=20) is None  # 25 of 100
    assert check_guards(policy, plan(6, 80), removed_in_window=20) is not None  # 26 of 100


# -- what a hold explains ------------------------------------------------------------------------------


def held_plan() -> Plan:
    holds = tuple(
        Held(change(n), "group missing", cause="missing", source="hr", group="Admins") for n in range(2)
    )
    groups = (
        GroupStatus("hr", "Users", Health.OK, 10),
        GroupStatus("hr", "Admins", Health.MISSING, 0, "no such group"),
        GroupStatus("ad", "Staff", Health.ERROR, 0, "connection refused"),
    )
    return Plan((), 10, 10, held=holds, groups=groups)


def test_each_group_not_read_cleanly_gets_one_line_saying_what_it_holds() -> None:
    lines = held_problems(held_plan(), {})
    assert lines == [
        "group 'Admins' of source hr is missing: no such group; its rule's assignments and 2 "
        "removal(s)/downgrade(s) are held (see `syncd plan` or `syncd status`)",
        "group 'Staff' of source ad is error: connection refused; its rule's assignments and 0 "
        "removal(s)/downgrade(s) are held (see `syncd plan` or `syncd status`)",
    ]


def test_the_groups_of_a_source_that_failed_as_a_whole_are_left_to_that_source_s_own_line() -> None:
    lines = held_problems(held_plan(), {"ad": SourceUnreachable("ad: down")})
    assert len(lines) == 1 and "'Admins'" in lines[0]


def test_a_plan_whose_groups_are_all_ok_explains_nothing() -> None:
    assert held_problems(Plan((), 3, 3, groups=(GroupStatus("hr", "Users", Health.OK, 3),)), {}) == []
