"""The plan step's small pieces, called directly: the ledger as an audited run leaves it, and the lines a
plan leaves for stderr."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.errors import SourceUnreachable
from syncd.matching import Matching
from syncd.models import Action, Change, Held, Owned, Plan, Reason
from syncd.planning import Planned, plan_problems
from syncd.reading import Readout
from syncd.reconcile import Reconciliation
from tests.unit.fakes import key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def owned(role: str) -> Owned:
    return Owned(role, "rules[0]", NOW)


def test_the_ledger_now_adds_this_runs_adoptions_and_drops_what_was_disowned_or_superseded() -> None:
    ann, bob, cy, di = (key(f"{n}@example.com") for n in ("ann", "bob", "cy", "di"))
    matched = Matching(
        {}, {}, {ann: owned("Team"), bob: owned("Team"), cy: owned("Team")}, dropped=frozenset({cy})
    )
    recon = Reconciliation(Plan((), 3, 3), adopt={di: owned("administrator")}, disown=frozenset({bob}))
    planned = Planned(recon.plan, recon, matched, {}, "fp", {})
    assert planned.ledger_now() == {ann: owned("Team"), di: owned("administrator")}


def test_plan_problems_name_failed_sources_an_untrusted_clock_and_seats_given_back_outside_syncd() -> None:
    reason = Reason("no longer in 'Users' (hr)", "rules[0]", "hr", "Users")
    gone = Change(key("ann@example.com"), "ann@example.com", Action.UNASSIGN, "Team", "None", reason)
    plan = Plan((), 1, 1, held=(Held(gone, "re-granted", cause="re-granted"),))
    readout = Readout({}, {"ad": SourceUnreachable("ad: down")})
    lines = plan_problems(plan, readout, "went back an hour")
    assert lines[0] == "source ad: ad: down"
    assert lines[1] == "clock not trusted: went back an hour; removals held (confirm with --accept-clock)"
    assert lines[2].startswith("1 seat(s) syncd removed were given back outside syncd (e.g. ann@example.com)")
    assert len(lines) == 3


def test_a_clean_plan_leaves_no_problem_lines() -> None:
    assert plan_problems(Plan((), 0, 0), Readout({}, {}), None) == []
