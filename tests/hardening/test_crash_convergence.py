"""Crash convergence: SIGKILL `python -m syncd run` at seeded random points of a 2,000-change apply.

The world alternates between two desired states, each 2,000 changes from the other (A: u0000-u1999 Team;
B: u0000-u0999 Administrator, u1000-u1999 no seat; the first point starts from nobody seated), so every
point kills a run that is about to apply, or is applying, 2,000 changes: assignments, upgrades, downgrades
and removals in batches of 100. The proxy in front of the emulator holds the request chosen by the seed, so
the kill lands exactly at that point; then the held request is dropped, delivered, or its answer lost.

After each kill: nobody holds a role that is neither their old nor their desired one; the killed run wrote a
batch intent (state and audit) before every POST 7pace received; a clean `run` converges (exit 0, re-plan
empty, roles as desired); every person 7pace changed has a success audit event, from the killed run or
settled by the recovery.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser
from tests.hardening import harness as hh

SEED = 20261122
POINTS = 32
BATCH = 100
PEOPLE = hh.users("u", range(2000))
ANCHOR = "a0000@example.com"  # keeps Admins non-empty in both states (an emptied group would be held)
STATE_A = {"Users": PEOPLE, "Admins": [ANCHOR]}
STATE_B = {"Users": PEOPLE[:1000], "Admins": [*PEOPLE[:1000], ANCHOR]}
POLICY = 'grace = "0s"\nmax_removals = 100000\nmax_removal_percent = 100\nmax_group_shrink_percent = 100'
KINDS = {
    "startup": "at a random moment of start-up, config and source read",
    "read": "during the target read (GET page k held)",
    "between": "between batches (batch n+1's intent written, its POST never arrives)",
    "inside": "inside a batch (POST n reaches 7pace after the kill)",
    "answer-lost": "inside a batch (7pace applied POST n, the answer is lost)",
    "verify": "during the verify re-read after the last batch",
}


def desired(groups: dict[str, list[str]]) -> dict[str, str]:
    roles = dict.fromkeys(map(hh.key, [*PEOPLE, ANCHOR]), hh.NONE)
    roles |= {hh.key(e): "Team" for e in groups["Users"]}
    roles |= {hh.key(e): "Administrator" for e in groups["Admins"]}
    return roles


def schedule() -> list[tuple[str, float]]:
    """(kind, a uniform draw that picks the ordinal or delay) for each point: every kind at least five
    times, in a seeded order."""
    rng = random.Random(SEED)
    kinds = ["startup"] * 2 + [k for k in KINDS if k != "startup"] * 6
    rng.shuffle(kinds)
    return [(kind, rng.random()) for kind in kinds]


def kill_at(
    world: Any, config: Path, kind: str, draw: float, seats: tuple[int, int], changes: int
) -> tuple[str, int]:
    """Start a run, kill it at the point `kind`/`draw` names (`seats` before and after the run, `changes`
    it will make); returns (where, POSTs received by 7pace)."""
    # the run assigns people, so its first read also lists the organization users without a seat
    # (includeNoneRoles): every user of the emulator, not only the seats
    pages_before = len(world.emulator.roles_by_email(include_none=True)) // 500 + 1
    batches = -(-changes // BATCH)
    posts = world.emulator.count("POST users/roles")
    world.proxy.reset()
    hold = None
    if kind == "read":
        k = 1 + int(draw * pages_before)
        hold, where = hh.Hold("GET users/roles", k, "drop"), f"GET page {k} of {pages_before}"
    elif kind == "between":
        n = 1 + int(draw * (batches - 1))
        hold, where = hh.Hold("POST users/roles", n + 1, "drop"), f"after batch {n} of {batches}"
    elif kind in ("inside", "answer-lost"):
        n = 1 + int(draw * batches)
        action = "forward" if kind == "inside" else "answer-lost"
        hold, where = hh.Hold("POST users/roles", n, action), f"batch {n} of {batches}"
    elif kind == "verify":
        k = 1 + int(draw * (seats[1] // 500 + 1))
        hold, where = hh.Hold("GET users/roles", 10**9, "drop"), f"verify GET page {k}"
        armed = hold

        def arm(seen: str, number: int, request: Any) -> None:
            # the verify is the first read after the last POST: re-armed at each POST, k GETs later
            if seen == "POST users/roles" and not armed.arrived.is_set():
                armed.ordinal = world.proxy.count("GET users/roles") + k

        world.proxy.before = arm
    else:
        where = "start-up"
    world.proxy.hold = hold
    process = hh.start_run(config)
    try:
        hh.kill_when_held(process, hold, where, draw)
    finally:
        world.proxy.wait_idle()
    assert process.returncode == -signal.SIGKILL, f"the run ended by itself (exit {process.returncode})"
    return where, world.emulator.count("POST users/roles") - posts


@pytest.mark.slow
def test_sigkill_at_seeded_points_converges(tmp_path: Path, record: Callable[..., None]) -> None:
    org = [EmulatedUser(e) for e in PEOPLE] + [EmulatedUser(ANCHOR)]
    failures: list[str] = []
    counts: dict[str, int] = {}
    with hh.running_world(tmp_path, org) as world:
        config = world.write_config(policy=POLICY, batch_size=BATCH)
        for number, (kind, draw) in enumerate(schedule(), start=1):
            groups = STATE_A if number % 2 else STATE_B
            world.members(groups)
            wanted = desired(groups)
            before = world.roles()
            seats = (
                sum(1 for r in before.values() if r != hh.NONE),
                sum(1 for r in wanted.values() if r != hh.NONE),
            )
            to_change = len(hh.changed(before, wanted))
            mark = world.audit_mark()

            where, posts = kill_at(world, config, kind, draw, seats, to_change)

            after_kill = world.roles()
            killed_events = world.audit(mark)
            moved = hh.changed(before, after_kill)
            problems = hh.unintended(before, after_kill, wanted)
            intents = [e for e in killed_events if e["event.action"] == "batch-intent"]
            if len(intents) < posts:
                problems.append(f"7pace received {posts} POST(s), the audit shows {len(intents)} intent(s)")
            problems += [f"changed without an intent: {p}" for p in sorted(moved - hh.covered(killed_events))]

            mark = world.audit_mark()
            recovered = main(["run", "-c", str(config)])
            recovery_events = world.audit(mark)
            replan = main(["plan", "-c", str(config), "--detailed-exitcode"])
            final = world.roles()
            wrong = sorted(p for p in wanted if final.get(p) != wanted[p])
            if recovered != 0 or replan != 0 or wrong:
                problems.append(
                    f"recovery run {recovered}, re-plan {replan}, {len(wrong)} wrong: {wrong[:3]}"
                )
            audited = hh.successes(killed_events + recovery_events)
            unaudited = sorted(p for p in moved if audited.get(p, "").casefold() != after_kill[p].casefold())
            problems += [f"no success event for {p}" for p in unaudited[:5]]
            settled = sum(1 for e in recovery_events if e.get("syncd.recovered"))
            counts[kind] = counts.get(kind, 0) + 1
            record(
                "Crash convergence",
                ["#", "killed", "where", "POSTs 7pace got", "changed", "settled by recovery", "verdict"],
                [
                    number,
                    KINDS[kind],
                    where,
                    posts,
                    len(moved),
                    settled,
                    "converged, audited" if not problems else "FAIL: " + "; ".join(problems)[:300],
                ],
                (number,),
            )
            if problems:
                failures.append(f"point {number} ({kind}, {where}): {problems[:3]}")
    assert failures == []
    assert len(counts) == len(KINDS) and min(counts.values()) >= 2 and sum(counts.values()) >= 30
