"""What the plan table's first line claims when nothing is sent (issue 19 trial): "every seat already matches
the rules" only when that is true; people left alone or seats nobody can be matched to are counted instead."""

from __future__ import annotations

from syncd.identity import normalise_email
from syncd.models import LeftAlone, Plan
from syncd.plan_output import render_table


def ghost(email: str) -> LeftAlone:
    key = normalise_email(email)
    assert key is not None
    return LeftAlone(
        key,
        email,
        "None",
        "Team",
        "not-in-organization",
        "cannot be assigned yet: not a user of the organization",
    )


def test_nothing_to_do_says_every_seat_matches() -> None:
    assert "No changes: every seat already matches the rules." in render_table(Plan((), 2, 2))


def test_people_left_alone_are_counted_not_called_matching() -> None:
    plan = Plan((), 2, 2, left_alone=tuple(ghost(f"ghost{n}@example.com") for n in range(3)))
    out = render_table(plan)
    assert "every seat already matches" not in out
    assert out.splitlines()[0] == "No changes will be made; 3 person(s) left alone (see below)."
    assert "Left alone, nothing sent (3):" in out


def test_unmatched_seats_are_counted_too() -> None:
    out = render_table(Plan((), 3, 3, unmatched=("row 17",)))
    assert "every seat already matches" not in out
    assert out.splitlines()[0] == "No changes will be made; 1 seat(s) nobody can be matched to (see below)."
