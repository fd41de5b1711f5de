"""The fault matrix for the TrackingTime target: every fault × `plan` / `apply` / `run` against a 24-change
plan (5 archives, 2 role downgrades, 2 upgrades, 5 re-opens, 10 invitations), as test_fault_matrix.py does
for 7pace. For each cell: the documented exit code; nobody moved to a role that is neither what they had nor
what they should have; every change the emulator shows is audited (a success event or a batch intent) and
no success event is contradicted; and the next clean `run` converges (re-plan empty, roles as desired)."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.faults import Fault, Faults
from syncd.emulators.http_server import EmulatorServer, Request, Response
from syncd.emulators.trackingtime import Contract, TrackingTimeEmulator, TtUser
from tests.hardening import harness as hh
from tests.support.configs import FILE_SOURCE, rule
from tests.support.world import write_members

PASSWORD = "sentinel-trackingtime-app-password"
ACCOUNT = 4711
BATCH = 5
MANUAL = hh.users("m", range(230))  # seats held by hand: unmanaged, kept; the read is 3 pages of 100
BASELINE = {"Users": hh.users("u", range(30)), "Admins": hh.users("u", range(30, 35))}
DESIRED = {
    # u0000-u0004 leave (5 archives); u0030, u0031 Admins → Users (2 downgrades); u0010, u0011 join Admins
    # (2 upgrades); u0040-u0044 come back (archived: 5 re-opens); u0045-u0054 are new (10 invitations)
    "Users": hh.users("u", [*range(5, 30), 30, 31, *range(40, 55)]),
    "Admins": hh.users("u", [10, 11, 32, 33, 34]),
}
ORG = [TtUser(e, archived=True) for e in hh.users("u", range(40, 45))] + [TtUser(e) for e in MANUAL]


def wanted() -> dict[str, str]:
    roles = dict.fromkeys((hh.key(e) for e in hh.users("u", range(60))), hh.NONE)
    roles |= dict.fromkeys(map(hh.key, MANUAL), "CO_WORKER")
    roles |= {hh.key(e): "CO_WORKER" for e in DESIRED["Users"]}
    roles |= {hh.key(e): "ADMIN" for e in DESIRED["Admins"]}
    return roles


WANTED = wanted()

# -- the world -------------------------------------------------------------------------------------------------


@dataclass
class TtWorld:
    root: Path
    emulator: TrackingTimeEmulator
    front: EmulatorServer  # forwards to the emulator; `refuse` may answer instead, `reshape` after it
    refuse: Callable[[Request], Response | None] | None = None
    reshape: Callable[[Request, Response], Response] | None = None
    gate: hh.Hold | None = None  # holds the gate.ordinal-th request of gate.kind ("GET users" or "write")
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def members(self, groups: dict[str, list[str]]) -> None:
        write_members(self.root, groups)

    def write_config(self, target: str = "", policy: str = "") -> Path:
        text = f"""
[target]
type = "trackingtime"
url = "{self.front.base_url}/api/v4"
account_id = {ACCOUNT}
app_password = {{ file = "tt.txt" }}
allow_insecure_http = true
requests_per_second = 0
page_size = 100
batch_size = {BATCH}
{target}

{FILE_SOURCE}
{rule("Users", "CO_WORKER")}
{rule("Admins", "ADMIN")}
[policy]
grace = "0s"
max_removal_percent = 100
max_removals = 100000
{policy}
"""
        path = self.root / "syncd.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def roles(self) -> dict[str, str]:
        return {hh.key(e): r for e, r in self.emulator.roles_by_email(include_none=True).items()}


@contextlib.contextmanager
def running_world(root: Path, org: list[TtUser] = ORG) -> Iterator[TtWorld]:
    secret = root / "tt.txt"
    secret.write_text(PASSWORD, encoding="utf-8")
    secret.chmod(0o600)
    lock = threading.Lock()
    with TrackingTimeEmulator(org, account_id=ACCOUNT, app_password=PASSWORD) as emulator:
        holder: list[TtWorld] = []

        def forward(request: Request) -> Response:
            world = holder[0]
            kind = "write" if request.method in ("POST", "PUT") else f"{request.method} users"
            with lock:
                world.counts[kind] = number = world.counts.get(kind, 0) + 1
            gate = world.gate  # read once: the test thread may replace it meanwhile
            if gate is not None and not gate.stops(kind, number):
                gate = None
            if gate is not None:
                gate.before_forwarding()
            early = world.refuse(request) if world.refuse is not None else None
            if early is not None:
                return early
            answer = emulator.handle(request)  # the emulator answers in this process; then reshaped
            if gate is not None:
                gate.after_forwarding()
            return world.reshape(request, answer) if world.reshape is not None else answer

        with EmulatorServer(forward) as front:
            holder.append(TtWorld(root, emulator, front))
            yield holder[0]


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attempts per request instead of six (as the 7pace matrix does): only the budget changes."""
    from syncd.targets import trackingtime

    original = trackingtime.read_http_options

    def shorter(section: Any) -> Any:
        return dataclasses.replace(original(section), max_attempts=2, max_retry_seconds=30.0)

    monkeypatch.setattr(trackingtime, "read_http_options", shorter)


# -- faults ---------------------------------------------------------------------------------------------------

Arm = Callable[[TtWorld], None]
WRITES = frozenset({"POST", "PUT"})
GET = frozenset({"GET"})


def faults(value: Faults) -> Arm:
    return lambda world: world.emulator.set_faults(value)


def reads(outage: Fault, **knobs: Any) -> Arm:
    """Every GET from the second on (page 2 of the first read) gets `outage`."""
    return faults(Faults(fail_after=1, outage=outage, methods=GET, **knobs))


def writes(outage: Fault, **knobs: Any) -> Arm:
    """Every write from the second on gets `outage`."""
    return faults(Faults(fail_after=1, outage=outage, methods=WRITES, **knobs))


def once(fault: Fault, methods: frozenset[str] | None = None, **knobs: Any) -> Arm:
    return faults(Faults(script={2: fault}, methods=methods, **knobs))


def _envelope_error(status: int) -> Response:
    body = b'{"response":{"status":%d,"version":"4.0","message":"Error"},"data":{}}' % status
    return Response(200, body)


def _from_second(methods: frozenset[str]) -> Callable[[Request], bool]:
    seen = [0]

    def hit(request: Request) -> bool:
        if request.method not in methods:
            return False
        seen[0] += 1
        return seen[0] >= 2

    return hit


def envelope(methods: frozenset[str], status: int) -> Arm:
    """HTTP 200 with `response.status` = `status` in the envelope instead of processing, from the 2nd
    request of `methods` on (TrackingTime refused it)."""

    def arm(world: TtWorld) -> None:
        hit = _from_second(methods)
        world.refuse = lambda request: _envelope_error(status) if hit(request) else None

    return arm


def envelope_after(methods: frozenset[str], status: int) -> Arm:
    """The request is processed, then answered with an envelope error (it took; the answer says not)."""

    def arm(world: TtWorld) -> None:
        hit = _from_second(methods)
        world.reshape = lambda request, answer: _envelope_error(status) if hit(request) else answer

    return arm


def quota(world: TtWorld) -> None:
    """A quota of 2 requests a second, rejected in the envelope on HTTP 200 ([U] rejection shape)."""
    world.emulator.quota_per_second = 2
    world.emulator.contract = Contract(quota_rejection="envelope")


ALL_OK = {"plan": 0, "apply": 0, "run": 0}
DOWN = {"plan": 5, "apply": 5, "run": 5}
WRITES_DOWN = {"plan": 0, "apply": 5, "run": 5}
WRITES_REFUSED = {"plan": 0, "apply": 4, "run": 4}
TIMEOUT = "timeout = 1"


@dataclass(frozen=True)
class Case:
    fault: str
    where: str
    arm: Arm
    expected: dict[str, int]
    id: str
    target: str = ""


CASES = [
    Case("429, Retry-After: 1", "once (page 2)", once(Fault.THROTTLE, retry_after=1), ALL_OK, "429-once"),
    Case("HTTP 503", "once (page 2)", once(Fault.ERROR), ALL_OK, "503-once"),
    Case("connection reset", "once (page 2)", once(Fault.RESET), ALL_OK, "reset-once"),
    Case("truncated JSON", "once (page 2)", once(Fault.MALFORMED), ALL_OK, "truncated-once"),
    Case(
        "reset after processing",
        "once (2nd write)",
        once(Fault.RESET_AFTER, WRITES),
        ALL_OK,
        "reset-after-once",
    ),
    Case("quota 2/s, envelope 429 on HTTP 200", "every request", quota, ALL_OK, "quota-envelope"),
    Case(
        "429 storm, Retry-After: 1",
        "reads (page 2 on)",
        reads(Fault.THROTTLE, retry_after=1),
        DOWN,
        "429-reads",
    ),
    Case("HTTP 502", "reads (page 2 on)", reads(Fault.ERROR, error_status=502), DOWN, "502-reads"),
    Case("connection reset", "reads (page 2 on)", reads(Fault.RESET), DOWN, "reset-reads"),
    Case(
        "read timeout",
        "reads (every GET)",
        faults(Faults(latency=1.5, methods=GET)),
        DOWN,
        "timeout-reads",
        TIMEOUT,
    ),
    Case("truncated JSON", "reads (page 2 on)", reads(Fault.MALFORMED), DOWN, "truncated-reads"),
    Case("200 with an HTML page", "reads (page 2 on)", reads(Fault.HTML), DOWN, "html-reads"),
    Case("envelope status 500 on HTTP 200", "reads (page 2 on)", envelope(GET, 500), DOWN, "envelope-reads"),
    Case(
        "429 storm, Retry-After: 1",
        "writes (2nd on)",
        writes(Fault.THROTTLE, retry_after=1),
        WRITES_DOWN,
        "429-writes",
    ),
    Case("HTTP 503", "writes (2nd on)", writes(Fault.ERROR), WRITES_DOWN, "503-writes"),
    Case("connection reset", "writes (2nd on)", writes(Fault.RESET), WRITES_DOWN, "reset-writes"),
    Case(
        "reset after processing",
        "writes (2nd on)",
        writes(Fault.RESET_AFTER),
        WRITES_DOWN,
        "reset-after-writes",
    ),
    Case(
        "read timeout",
        "writes (every write)",
        faults(Faults(latency=1.5, methods=WRITES)),
        WRITES_DOWN,
        "timeout-writes",
        TIMEOUT,
    ),
    Case("truncated JSON", "writes (2nd on)", writes(Fault.MALFORMED), WRITES_DOWN, "truncated-writes"),
    Case(
        "envelope status 500 on HTTP 200",
        "writes (2nd on)",
        envelope(WRITES, 500),
        WRITES_REFUSED,
        "envelope-writes",
    ),
]
COLUMNS, COMMANDS = hh.CELL_COLUMNS, hh.COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(
    tmp_path: Path, case: Case, command: str, record: Callable[..., None], fast_retries: None
) -> None:
    with running_world(tmp_path) as world:
        world.members(BASELINE)
        assert main(["apply", "-c", str(world.write_config())]) == 0
        world.members(DESIRED)
        config = world.write_config(case.target)
        before = world.roles()
        mark = {path: path.stat().st_size for path in (tmp_path / "logs").glob("audit-*.jsonl")}
        case.arm(world)

        code = main([command, "-c", str(config)])

        world.emulator.set_faults(Faults())
        world.emulator.quota_per_second = None
        world.emulator.contract = Contract()
        world.reshape = None
        world.refuse = None
        after = world.roles()
        events = hh.read_audit(tmp_path / "logs", mark)
        moved = hh.changed(before, after)
        harm = hh.unintended(before, after, WANTED)
        if command == "plan" and moved:
            harm.append(f"plan changed {len(moved)} role(s)")
        gaps = [f"not audited: {p}" for p in sorted(moved - hh.covered(events))]
        gaps += hh.false_successes(after, events)

        recovery = world.write_config()
        recovered = main(["run", "-c", str(recovery)])
        replan = main(["plan", "-c", str(recovery), "--detailed-exitcode"])
        final = world.roles()
        wrong = sorted(p for p in WANTED if final.get(p, hh.NONE) != WANTED[p])
        result = hh.CellResult(
            case.fault,
            case.where,
            command,
            code,
            case.expected[command],
            len(moved),
            harm,
            gaps,
            recovered,
            replan,
            wrong,
        )
        record("TrackingTime", COLUMNS, result.cells(), (CASES.index(case), COMMANDS.index(command)))
        assert result.problems() == []


# -- crash convergence -----------------------------------------------------------------------------------------

CRASH_SEED = 20261202
CRASH_PEOPLE = hh.users("c", range(300))
CRASH_ANCHOR = "anchor@example.com"  # keeps Admins non-empty in both states (an emptied group would be held)
CRASH_MEMBER = "member@example.com"  # and Users
CRASH_A = {"Users": [*CRASH_PEOPLE, CRASH_MEMBER], "Admins": [CRASH_ANCHOR]}
CRASH_B = {"Users": [CRASH_MEMBER], "Admins": [*CRASH_PEOPLE[:150], CRASH_ANCHOR]}
CRASH_POLICY = "max_group_shrink_percent = 100"
CRASH_KINDS = {
    "startup": "at a random moment of start-up, config and source read",
    "read": "during the target read (GET page k held)",
    "write-dropped": "before write n arrives (the kill comes first)",
    "write-late": "inside a write (write n reaches TrackingTime after the kill)",
    "answer-lost": "inside a write (TrackingTime applied write n, the answer is lost)",
    "verify": "during the verify re-read after the last write",
}


def crash_wanted(groups: dict[str, list[str]]) -> dict[str, str]:
    roles = dict.fromkeys(map(hh.key, [*CRASH_PEOPLE, CRASH_ANCHOR, CRASH_MEMBER]), hh.NONE)
    roles |= {hh.key(e): "CO_WORKER" for e in groups["Users"]}
    roles |= {hh.key(e): "ADMIN" for e in groups["Admins"]}
    return roles


def crash_schedule() -> list[tuple[str, float]]:
    rng = random.Random(CRASH_SEED)
    kinds = ["startup"] + [k for k in CRASH_KINDS if k != "startup"] * 3
    rng.shuffle(kinds)
    return [(kind, rng.random()) for kind in kinds]


def crash_gate(world: TtWorld, kind: str, draw: float, changes: int) -> tuple[hh.Hold | None, str]:
    rows = len(world.emulator.roles_by_email(include_none=True))
    pages = rows // 100 + 1
    writes = max(1, -(-changes // 20))  # at least this many writes (invitations go 20 to a call)
    if kind == "read":
        k = 1 + int(draw * pages)
        return hh.Hold("GET users", k, "drop"), f"GET page {k} of {pages}"
    if kind in ("write-dropped", "write-late", "answer-lost"):
        n = 1 + int(draw * writes)
        action = {"write-dropped": "drop", "write-late": "forward", "answer-lost": "answer-lost"}[kind]
        return hh.Hold("write", n, action), f"write {n}"
    if kind == "verify":
        return hh.Hold("GET users", pages + 1, "drop"), "verify GET page 1"
    return None, "start-up"


@pytest.mark.slow
def test_sigkill_at_seeded_points_converges(tmp_path: Path, record: Callable[..., None]) -> None:
    """`python -m syncd run` against TrackingTime, killed with SIGKILL at seeded points of a 300-change
    apply (invitations, upgrades, archives, re-opens, downgrades): nobody ends in a role that is neither their
    old nor their desired one, every change is covered by an intent or a success event, and a clean `run`
    converges (exit 0, re-plan empty, roles as desired)."""
    failures: list[str] = []
    cut_short = 0  # kills that landed part-way through the writes (the points the test is about)
    with running_world(tmp_path, []) as world:
        config = world.write_config(policy=CRASH_POLICY)
        for number, (kind, draw) in enumerate(crash_schedule(), start=1):
            groups = CRASH_A if number % 2 else CRASH_B
            world.members(groups)
            wanted = crash_wanted(groups)
            before = world.roles()
            mark = {p: p.stat().st_size for p in (tmp_path / "logs").glob("audit-*.jsonl")}
            world.counts.clear()
            gate, where = crash_gate(world, kind, draw, len(hh.changed(before, wanted)))
            world.gate = gate
            process = hh.start_run(config)
            try:
                hh.kill_when_held(process, gate, where, draw)
            finally:
                world.gate = None
            time.sleep(0.2)  # a write released after the kill is still being answered
            after_kill = world.roles()
            killed_events = hh.read_audit(tmp_path / "logs", mark)
            moved = hh.changed(before, after_kill)
            cut_short += 0 < len(moved) < len(hh.changed(before, wanted))
            problems = hh.unintended(before, after_kill, wanted)
            problems += [f"changed without an intent: {p}" for p in sorted(moved - hh.covered(killed_events))]

            recovered = main(["run", "-c", str(config)])
            replan = main(["plan", "-c", str(config), "--detailed-exitcode"])
            final = world.roles()
            wrong = sorted(p for p in wanted if final.get(p, hh.NONE) != wanted[p])
            if recovered != 0 or replan != 0 or wrong:
                problems.append(
                    f"recovery run {recovered}, re-plan {replan}, {len(wrong)} wrong: {wrong[:3]}"
                )
            invites = world.emulator.count("POST users/invite", status=500)
            record(
                "TrackingTime",
                ["#", "killed", "where", "changed by the killed run", "verdict"],
                [
                    number,
                    CRASH_KINDS[kind],
                    where,
                    len(moved),
                    "converged, audited" if not problems else "FAIL: " + "; ".join(problems)[:300],
                ],
                (100 + number,),
            )
            if problems:
                failures.append(
                    f"point {number} ({kind}, {where}): {problems[:3]} (refused invites {invites})"
                )
    assert failures == []
