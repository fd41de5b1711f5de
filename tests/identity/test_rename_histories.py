"""A property over random rename histories, through the CLI against the 7pace emulator: people are renamed in
the directory (same immutable id), leave and rejoin the group, and 7pace sometimes catches up with the new
address (same 7pace id). After every run: one seat per person at most, exactly one while they are in the
group, none after they left, and every seat syncd holds is in its ledger (never orphaned)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.cli import main
from syncd.emulators.timetracker import Contract, EmulatedUser, TimetrackerEmulator
from syncd.state import State

from .conftest import TOKEN, IdentityWorld, Member

PEOPLE = 3
OPS = st.lists(
    st.tuples(st.sampled_from(("rename", "toggle", "follow", "run")), st.integers(0, PEOPLE - 1)),
    min_size=1,
    max_size=10,
)
# unmanaged = "keep" (the default): a seat whose ownership is lost stays forever, so a lost one shows
POLICY = 'grace = "0s"\nmax_removal_percent = 100\nmax_group_shrink_percent = 100'


@dataclass
class Someone:
    id: str
    emails: list[str]
    member: bool = True
    renames: int = 0
    seat_id: str = ""  # the 7pace id of their seat at the last run, while a member

    @property
    def email(self) -> str:
        return self.emails[-1]


def seats_of(emulator: TimetrackerEmulator, person: Someone) -> list[str]:
    roles = emulator.roles_by_email()
    return [e for e in person.emails if e in roles]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_random_rename_histories_keep_one_seat_per_person_and_orphan_none(
    tmp_path_factory: object, ops: list[tuple[str, int]]
) -> None:
    root: Path = tmp_path_factory.mktemp("histories")  # type: ignore[attr-defined]
    token = root / "token.txt"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    world = IdentityWorld(root)
    people = [Someone(f"guid-{i}", [f"p{i}.v0@example.com"]) for i in range(PEOPLE)]
    # an address 7pace does not know yet is created on first assignment (as an Azure DevOps org would)
    emulator = world.seventh_pace([], Contract(unknown_email="create"))
    try:
        config = world.config(policy=POLICY)
        for op, i in [*ops, ("run", 0)]:
            person = people[i]
            if op == "rename":
                person.renames += 1
                person.emails.append(f"p{i}.v{person.renames}@example.com")
            elif op == "toggle":
                person.member = not person.member
            elif op == "follow":
                follow(emulator, person)
            else:
                # an anchor keeps the group from emptying (an empty group is "suspicious" and holds removals)
                anchor = Member("Users", "anchor@example.com", id="guid-anchor")
                world.members([anchor, *(Member("Users", p.email, id=p.id) for p in people if p.member)])
                for someone in people:
                    if someone.member:
                        join(emulator, someone)
                assert main(["run", "-c", config]) == 0
                check(emulator, people, root)
    finally:
        emulator.stop()


def join(emulator: TimetrackerEmulator, person: Someone) -> None:
    """Issue 14 × 16: syncd gives a seat only to a user of the organization (never by guessing that 7pace
    creates one), so a member holding no seat under any of their addresses is a user of it (role None)
    under the current one, as Azure DevOps has everyone in the directory."""
    if not seats_of(emulator, person) and person.email not in emulator._users:
        emulator.add_user(EmulatedUser(person.email))


def follow(emulator: TimetrackerEmulator, person: Someone) -> None:
    """7pace learns the person's new address: the same 7pace user (same id) under the new e-mail."""
    record = None
    for email in person.emails[:-1]:
        record = emulator._users.get(email)
        if record is not None:
            break
    if record is None or (person.email in emulator._users and emulator._users[person.email].role != "None"):
        return
    if person.email in emulator._users:  # the same user: the organization's entry under the new address
        emulator.remove_user(person.email)
    emulator.remove_user(record.email)
    emulator.add_user(EmulatedUser(person.email, record.role, id=record.id, vsts_id=record.vsts_id))


def check(emulator: TimetrackerEmulator, people: list[Someone], root: Path) -> None:
    for person in people:
        held = seats_of(emulator, person)
        assert len(held) <= 1, f"{person.id} holds {held}"
        assert len(held) == (1 if person.member else 0), f"{person.id} (member={person.member}) holds {held}"
        # no churn: a member keeps the very seat (7pace id) they had, whatever their address became
        seat_id = emulator._users[held[0]].id if held else ""
        if person.seat_id and seat_id:
            assert seat_id == person.seat_id, f"{person.id}: seat {person.seat_id} replaced by {seat_id}"
        person.seat_id = seat_id
    with State(root / "state") as state:
        ledger = state.owned_with_ids()
    owned_ids = {o.target_id for o in ledger.values() if o.target_id}
    for email in emulator.roles_by_email():
        record = emulator._users[email]
        assert email in ledger or record.id in owned_ids, f"seat {email} is not in the ledger: orphaned"
