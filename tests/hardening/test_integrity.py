"""Integrity (issue 21): what an attacker with write access to the files, or an unlucky operator, does to a
deployment beyond HTTP faults and crashes — reviewed plans edited by hand, the state emptied or shared
between targets, clocks that lie, stops by signal, a deleted lock file, read-only and full disks.

Each case runs the real CLI in-process against the 7pace emulator on 127.0.0.1 and checks the exit code,
the one-line message and that nothing unintended reached 7pace.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hardening_harness as hh
import pytest

from syncd import plan_file
from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser

SECTION = "Integrity"
LAYOUT = ["case", "expected", "seen"]
ANN, BOSS, NEW, MALLORY = (
    "ann@contoso.example",
    "boss@contoso.example",
    "new@contoso.example",
    "mallory@contoso.example",
)
ORG = [
    EmulatedUser(ANN, "Team"),
    EmulatedUser(BOSS, "Team"),
    EmulatedUser(NEW),
    EmulatedUser(MALLORY),
]
POLICY = f'grace = "0s"\nmax_removal_percent = 100\nmax_removals = 100\nprotected = ["{BOSS}"]'

Record = Callable[..., None]


def syncd(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[hh.World]:
    with hh.running_world(tmp_path, ORG) as running:
        running.members({"Users": [ANN, BOSS, NEW], "Admins": []})
        running.write_config(policy=POLICY)
        yield running


def saved_plan(world: hh.World, *extra: str) -> tuple[Path, dict[str, Any]]:
    path = world.root / "plan.json"
    code, _, err = syncd("plan", "-c", str(world.config), "--out", str(path), *extra)
    assert code == 0, err
    return path, json.loads(path.read_text(encoding="utf-8"))


def forged_changes(data: dict[str, Any]) -> dict[str, Any]:
    """mallory (in no group) made Administrator, and the protected boss's seat removed."""
    template = data["changes"][0]
    data["changes"] += [
        template
        | {
            "email": MALLORY,
            "key": MALLORY,
            "action": "seat-assign",
            "before": "None",
            "after": "Administrator",
        },
        template | {"email": BOSS, "key": BOSS, "action": "seat-unassign", "before": "Team", "after": "None"},
    ]
    return data


def resealed(data: dict[str, Any]) -> dict[str, Any]:
    """What an attacker who read plan_file.py does: recompute the (keyless) seal over the edited plan."""
    return plan_file.sealed({k: v for k, v in data.items() if k not in ("seal", "signature")})


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("syncd:")]


def row(record: Record, order: tuple[object, ...], case: str, expected: str, seen: str) -> None:
    record(SECTION, LAYOUT, [case, expected, seen], order)


# -- 1. sealed plans ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["edited", "edited and re-sealed"])
def test_an_edited_plan_is_refused(world: hh.World, how: str, record: Record) -> None:
    """A reviewed plan with mallory → Administrator and the protected boss's removal added by hand: exit 3,
    nothing sent. Re-sealing it without a key passes the seal, but the cycle's re-plan names the change the
    current inputs do not produce."""
    path, data = saved_plan(world)
    data = forged_changes(data)
    write(path, resealed(data) if how == "edited and re-sealed" else data)
    before = world.roles()
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(path))
    after = world.roles()
    row(
        record,
        ("plan", 1, how),
        f"reviewed plan {how}: +mallory → Administrator, +unassign protected boss",
        "exit 3, nothing sent",
        f"exit {code}, {len(hh.changed(before, after))} changed",
    )
    assert code == 3 and after == before
    expected = "changes do(es) not match its seal" if how == "edited" else "seat-assign mallory"
    assert [line for line in err.splitlines() if line.startswith("syncd:")] == [
        line for line in err.splitlines() if expected in line
    ]


def test_an_old_plan_with_created_edited_is_refused(world: hh.World, record: Record) -> None:
    path, data = saved_plan(world)
    data["created"] = "2099-01-01T00:00:00+00:00"
    write(path, data)
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(path))
    row(record, ("plan", 2), "reviewed plan with `created` edited", "exit 3 naming created", f"exit {code}")
    assert code == 3 and "created do(es) not match its seal" in err


def test_a_signing_key_makes_write_access_to_the_plan_not_enough(world: hh.World, record: Record) -> None:
    """[plan] signing_key: a signed plan applies; the same plan edited and re-sealed without the key is
    refused by its signature (before the re-plan is even computed)."""
    key = world.root / "plan-key.txt"
    key.write_text("sentinel-plan-signing-key", encoding="utf-8")
    key.chmod(0o600)
    world.write_config(policy=POLICY, extra='[plan]\nsigning_key = { file = "plan-key.txt" }')
    path, data = saved_plan(world)
    assert "signature" in data and "sentinel-plan-signing-key" not in path.read_text(encoding="utf-8")
    forged = world.root / "forged.json"
    write(forged, resealed(forged_changes(json.loads(json.dumps(data)))) | {"signature": data["signature"]})
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(forged))
    unsigned = world.root / "unsigned.json"
    write(unsigned, resealed(json.loads(json.dumps(data))))
    unsigned_code, _, unsigned_err = syncd("apply", "-c", str(world.config), "--plan", str(unsigned))
    good_code, _, good_err = syncd("apply", "-c", str(world.config), "--plan", str(path))
    row(
        record,
        ("plan", 3),
        "signed plan edited and re-sealed without the key; unsigned copy; the signed original",
        "exit 3, exit 3, exit 0",
        f"exit {code}, exit {unsigned_code}, exit {good_code}",
    )
    assert code == 3 and "plan signature does not match [plan] signing_key" in err
    assert unsigned_code == 3 and "plan is not signed" in unsigned_err
    assert good_code == 0, good_err
    assert world.roles()[hh.key(NEW)] == "Team" and world.roles()[hh.key(MALLORY)] == "None"


def test_a_refused_plan_in_the_state_folder_cannot_be_edited_into_an_approval(
    world: hh.World, record: Record
) -> None:
    """A guard stops the run and saves the refused plan in the state folder; adding changes to it and
    applying it with --override-guards is refused like any edited plan."""
    assert syncd("run", "-c", str(world.config))[0] == 0  # adopts ann's seat
    world.members({"Users": [BOSS, NEW, MALLORY], "Admins": []})  # ann leaves: one removal
    world.write_config(policy=POLICY.replace("max_removals = 100", "max_removals = 0"))
    code, _, err = syncd("run", "-c", str(world.config))
    assert code == 3, err
    (refused,) = (world.root / "state").glob("refused-plan-*.json")
    write(refused, forged_changes(json.loads(refused.read_text(encoding="utf-8"))))
    before = world.roles()
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(refused), "--override-guards")
    row(
        record,
        ("plan", 4),
        "guard-refused plan in the state folder edited, applied with --override-guards",
        "exit 3, nothing sent",
        f"exit {code}, {len(hh.changed(before, world.roles()))} changed",
    )
    assert code == 3 and world.roles() == before and "do(es) not match its seal" in err
