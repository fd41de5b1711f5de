"""The pure idle-seat rules (syncd.reclaim): who is idle, who is reclaimed, and what never is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.identity import EmailKey
from syncd.models import LicensedUser, Owned, Rule
from syncd.reclaim import RECLAIM_RULE, ReclaimInputs, decide, still_idle
from syncd.reclaim_settings import ReclaimSettings
from syncd.rules import Selection

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RULE = Rule(0, "hr", "Users", "Team")
SETTINGS = ReclaimSettings(
    idle_for=timedelta(days=60),
    roles=frozenset({"Team"}),
    min_seat_age=timedelta(days=60),
    exempt=frozenset(),
    exempt_groups=(),
    mode="reclaim",
    warn_before=timedelta(0),
    max_per_run=25,
    regrant_group=None,
    activity_overlap=timedelta(hours=26),
)


def key(n: int) -> EmailKey:
    return EmailKey(f"u{n}@example.com")


def world(n: int, role: str = "Team", seat_age: int = 400) -> dict[str, object]:
    licensed = {key(i): LicensedUser(key(i), f"u{i}@example.com", role, f"ID-{i}") for i in range(n)}
    desired = {key(i): Selection(key(i), f"u{i}@example.com", "", role, RULE) for i in range(n)}
    owned = {key(i): Owned(role, RULE.identity, NOW - timedelta(days=seat_age)) for i in range(n)}
    return {"licensed": licensed, "desired": desired, "owned": owned}


def inputs(n: int = 3, activity: dict[str, datetime] | None = None, **changes: object) -> ReclaimInputs:
    base = ReclaimInputs(
        settings=SETTINGS,
        activity={} if activity is None else activity,
        covered_from=NOW - timedelta(days=61),
        exempt_members=frozenset(),
        unhealthy="",
        may_remove_unowned=False,
        protected=frozenset(),
        planned=frozenset(),
        warned={},
        now=NOW,
        **world(n),  # type: ignore[arg-type]
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_activity_inside_the_window_is_not_idle_and_ids_match_case_insensitively() -> None:
    decision = decide(inputs(activity={"id-0": NOW - timedelta(days=59), "id-1": NOW - timedelta(days=61)}))
    assert [s.email for s in decision.idle] == ["u1@example.com", "u2@example.com"]
    assert decision.idle[0].tracked and decision.idle[0].days == 61
    assert not decision.idle[1].tracked  # u2: nothing at all since the read start
    assert [c.email for c in decision.reclaims] == ["u1@example.com", "u2@example.com"]
    assert decision.reclaims[0].reason.rule == RECLAIM_RULE
    assert (
        decision.reclaims[0].reason.text
        == "no time tracked since 2026-10-02, 61 days (reclaim.idle_for = 60d)"
    )


def test_unknown_activity_or_a_short_read_makes_nobody_idle() -> None:
    assert decide(replace(inputs(), activity=None)).idle == ()
    assert not decide(replace(inputs(), activity=None)).judged
    short = decide(inputs(covered_from=NOW - timedelta(days=30)))
    assert short.idle == () and not short.judged and "ready on 2027-01-01" in short.notes[0]
    no_id = inputs()
    licensed = {k: replace(u, target_id="") for k, u in no_id.licensed.items()}
    decision = decide(replace(no_id, licensed=licensed))
    assert decision.idle == () and "3 seat(s) have no 7pace user id" in decision.notes[0]


def test_only_the_configured_roles_and_old_enough_seats() -> None:
    assert decide(replace(inputs(), settings=replace(SETTINGS, roles=frozenset({"Product"})))).idle == ()
    young = inputs()
    owned = {k: o._replace(since=NOW - timedelta(days=10)) for k, o in young.owned.items()}
    assert decide(replace(young, owned=owned)).idle == ()


def test_exempt_protected_unowned_and_already_changing_are_kept() -> None:
    base = inputs(4)
    decision = decide(
        replace(
            base,
            settings=replace(SETTINGS, exempt=frozenset({key(0)})),
            exempt_members=frozenset({key(1)}),
            protected=frozenset({key(2)}),
            owned={k: o for k, o in base.owned.items() if k != key(3)},
        )
    )
    assert decision.reclaims == ()
    assert {s.email: s.status for s in decision.idle} == {
        "u2@example.com": "kept: policy.protected",
        "u3@example.com": 'kept: seat assigned outside syncd (policy.unmanaged = "keep")',
    }
    assert decide(replace(base, planned=frozenset(base.licensed))).reclaims == ()


def test_report_mode_reclaims_nothing_and_the_cap_limits_a_run() -> None:
    assert decide(replace(inputs(), settings=replace(SETTINGS, mode="report"))).reclaims == ()
    capped = decide(replace(inputs(5), settings=replace(SETTINGS, max_per_run=2)))
    assert len(capped.reclaims) == 2
    assert sum(1 for s in capped.idle if s.status.startswith("next run")) == 3


def test_an_unhealthy_group_holds_every_reclaim_and_keeps_warnings() -> None:
    decision = decide(inputs(unhealthy="group 'Managers' of hr is missing", warned={key(1): NOW}))
    assert decision.reclaims == () and len(decision.held) == 3
    assert decision.held[0].why == "reclaim held: group 'Managers' of hr is missing"
    assert decision.warned == {key(1): NOW}


def test_warn_first_then_reclaim_after_warn_before() -> None:
    warned = replace(SETTINGS, warn_before=timedelta(days=7))
    first = decide(replace(inputs(1), settings=warned))
    assert first.reclaims == () and [c.email for c in first.new_warnings] == ["u0@example.com"]
    assert first.warned == {key(0): NOW}
    early = decide(replace(inputs(1), settings=warned, warned={key(0): NOW - timedelta(days=6)}))
    assert early.reclaims == () and early.new_warnings == ()
    due = decide(replace(inputs(1), settings=warned, warned={key(0): NOW - timedelta(days=7)}))
    assert len(due.reclaims) == 1


def test_the_recheck_cancels_whoever_logged_time() -> None:
    decision = decide(inputs(2))
    keep, cancelled = still_idle(
        decision.reclaims, inputs(2).licensed, {"id-0": NOW - timedelta(minutes=5)}, NOW - timedelta(days=60)
    )
    assert [c.email for c in keep] == ["u1@example.com"]
    assert [h.change.email for h in cancelled] == ["u0@example.com"]
    assert cancelled[0].why.startswith("reclaim cancelled: time tracked at 2026-12-02 11:55")


@settings(max_examples=200, deadline=None)
@given(
    days=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=200)), min_size=1, max_size=12),
    mode=st.sampled_from(["report", "reclaim"]),
    cap=st.integers(min_value=1, max_value=5),
)
def test_nobody_with_a_worklog_in_the_window_is_ever_idle_or_reclaimed(
    days: list[int | None], mode: str, cap: int
) -> None:
    activity = {f"id-{i}": NOW - timedelta(days=d) for i, d in enumerate(days) if d is not None}
    decision = decide(
        replace(inputs(len(days), activity=activity), settings=replace(SETTINGS, mode=mode, max_per_run=cap))  # type: ignore[arg-type]
    )
    active = {key(i) for i, d in enumerate(days) if d is not None and d <= 60}
    assert not active & {s.key for s in decision.idle}
    assert not active & {c.key for c in decision.reclaims}
    assert len(decision.reclaims) <= (cap if mode == "reclaim" else 0)
    assert {s.key for s in decision.idle} == {key(i) for i, d in enumerate(days) if d is None or d > 60}
