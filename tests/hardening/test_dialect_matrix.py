"""The dialect matrix (issue 14): each way a real 7pace may answer where its documentation is silent is a
switch of the emulator's Contract; `run` → re-`plan` → `run` against each, asserting no unintended
downgrade or removal, seats counted right, and either convergence or a refusal with the documented exit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import Contract, EmulatedUser
from tests.hardening import harness as hh

SECTION = "Dialect matrix"
LAYOUT = [
    "dialect",
    "run exit (expected)",
    "POSTs",
    "harm",
    "seats counted",
    "left alone",
    "re-plan",
    "verdict",
]

ADMINS = hh.users("adm", range(150))  # Administrators who are only in the Team group (kept: unmanaged)
STEADY = hh.users("team", range(100))  # Team seats that stay
JOINERS = hh.users("new", range(60))  # in the organization, no seat yet: assigned
GHOSTS = ["ghost1@example.com", "ghost2@example.com"]  # not in the organization
BOSS = "boss@example.com"  # Budget, in Admins: upgraded
CUSTOM = "custom@example.com"  # a role the config does not know, in the Team group
SEATS = len(ADMINS) + len(STEADY) + 2  # + boss + custom


@dataclass(frozen=True)
class Dialect:
    name: str
    contract: Contract
    run_exit: int = 0
    replan: str = "empty"  # "empty" | "ghosts" (only the ghosts, failing every run) | "refused"
    left_alone: int = 3  # the two ghosts and the custom role
    notes: tuple[str, ...] = field(default=())


DIALECTS = [
    Dialect("documented (pages of 500)", Contract()),
    Dialect("pages of 100", Contract(page_cap=100)),
    Dialect("pages of 137", Contract(page_cap=137)),
    Dialect("$count ignored (1,000 a page)", Contract(count_honoured=False, page_cap=1000)),
    Dialect("$skip ignored", Contract(page_cap=100, skip_honoured=False), run_exit=5, replan="refused"),
    Dialect("%24count not recognised", Contract(page_cap=100, percent_encoded_names=False)),
    Dialect("rows without email (uniqueName = e-mail)", Contract(email_in_rows=False)),
    # nobody can be matched: every seat counted, nobody assigned (they may hold one of the unmatched seats)
    Dialect(
        "rows without email, uniqueName DOMAIN\\user",
        Contract(email_in_rows=False, unique_name_form="domain"),
        left_alone=len(JOINERS) + len(GHOSTS) + len(ADMINS) + len(STEADY) + 2,
    ),
    Dialect("role names lower-case", Contract(role_case="lower")),
    Dialect("role names upper-case", Contract(role_case="upper")),
    Dialect("role names as bare strings, nested rows", Contract(role_format="name", row_shape="nested")),
    Dialect("batch validated as a whole", Contract(batch_validation="whole")),
    Dialect("includeNoneRoles ignored (GET users read)", Contract(include_none_roles=False)),
    # the first run learns the organization from includeNoneRoles; once everyone in it holds a seat that
    # read has no "None" row left, which cannot be told from a server ignoring the parameter, so with no
    # GET users the ghosts are sent again (and fail) rather than guessed absent
    Dialect("GET users missing", Contract(users_listing=False), replan="ghosts"),
    Dialect(
        "no organization listing at all",
        Contract(users_listing=False, include_none_roles=False),
        run_exit=4,
        replan="ghosts",
        left_alone=1,
    ),
    Dialect(
        "no organization listing, batch validated whole",
        Contract(users_listing=False, include_none_roles=False, batch_validation="whole"),
        run_exit=4,
        replan="ghosts",
        left_alone=1,
    ),
]


def people() -> list[EmulatedUser]:
    return [
        *(EmulatedUser(e, "Administrator") for e in ADMINS),
        *(EmulatedUser(e, "Team") for e in STEADY),
        *(EmulatedUser(e) for e in JOINERS),
        EmulatedUser(BOSS, "Budget"),
        EmulatedUser(CUSTOM),  # given the custom role once the emulator offers it
    ]


def desired(before: hh.Roles, dialect: Dialect) -> hh.Roles:
    want = dict(before)
    if dialect.run_exit == 5 or "DOMAIN" in dialect.name:
        return want  # refused, or nobody can be matched: nothing may change
    want |= {hh.key(e): "Team" for e in JOINERS} | {hh.key(BOSS): "Administrator"}
    return want


def plan_json(
    world: hh.ProxiedWorld, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any] | None]:
    capsys.readouterr()
    code = main(["plan", "-c", str(world.config), "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else None


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
def test_plan_apply_replan_against_each_dialect(
    tmp_path, capsys: pytest.CaptureFixture[str], record, dialect: Dialect
) -> None:
    with hh.running_world(tmp_path, people()) as world:
        world.emulator.add_role("Default")
        world.emulator.set_role(CUSTOM, "Default")
        world.emulator.contract = dialect.contract
        world.members({"Users": [*ADMINS, *STEADY, *JOINERS, *GHOSTS, CUSTOM], "Admins": [BOSS]})
        # straight to the emulator: the FaultProxy re-encodes the query, and `$` vs `%24` is a dialect here
        world.write_config(policy='grace = "0s"\nunmanaged = "keep"', url=world.emulator.base_url)
        before = world.roles()
        code, first = plan_json(world, capsys)
        seats = first["seats"]["before"] if first else "-"
        left = len(first["left_alone"]) if first else "-"
        run_exit = main(["run", "-c", str(world.config)])
        after = world.roles()
        posts = world.emulator.count("POST users/roles")
        harm = hh.unintended(before, after, desired(before, dialect))
        lowered = hh.downgrades(before, after)
        replan_code, replan = plan_json(world, capsys)
        remaining = sorted(c["key"] for c in replan["changes"]) if replan else None
        if dialect.replan == "refused":
            replan_text = f"refused (exit {replan_code})"
            converged = replan_code == 5
        elif dialect.replan == "ghosts":
            replan_text = f"{len(remaining or [])} change(s): the ghosts, failing each run"
            converged = remaining == sorted(GHOSTS)
        else:
            replan_text = "empty" if remaining == [] else f"{len(remaining or [])} change(s)"
            converged = remaining == [] and after == desired(before, dialect)
        ok = (
            run_exit == dialect.run_exit
            and not harm
            and not lowered
            and converged
            and (code != 0 or (seats == SEATS and left == dialect.left_alone))
        )
        record(
            SECTION,
            LAYOUT,
            [
                dialect.name,
                f"{run_exit} ({dialect.run_exit})",
                posts,
                len(harm) + len(lowered),
                f"{seats} of {SEATS}",
                left,
                replan_text,
                "ok" if ok else "WRONG",
            ],
            (DIALECTS.index(dialect),),
        )
    assert run_exit == dialect.run_exit
    assert harm == [] and lowered == []
    assert converged, (replan_code, remaining)
    if code == 0:
        assert seats == SEATS
        assert left == dialect.left_alone
