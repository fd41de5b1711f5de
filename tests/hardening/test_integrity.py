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
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd import config as config_module
from syncd import plan_file
from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.runlock import RunLock
from tests.hardening import harness as hh

SECTION = "Integrity"
LAYOUT = ["case", "expected", "seen"]
ANN, BOSS, NEW, MALLORY = (
    "ann@contoso.example",
    "boss@contoso.example",
    "new@contoso.example",
    "mallory@contoso.example",
)
EXTRA = ["x1@contoso.example", "x2@contoso.example"]
ORG = [
    EmulatedUser(ANN, "Team"),
    EmulatedUser(BOSS, "Team"),
    EmulatedUser(NEW),
    EmulatedUser(MALLORY),
    # users of the organization without a seat: 7pace can give them one (issue 14 leaves anyone else alone)
    *(EmulatedUser(email) for email in EXTRA),
]
POLICY = f'grace = "0s"\nmax_removal_percent = 100\nmax_removals = 100\nprotected = ["{BOSS}"]'

Record = Callable[..., None]


def syncd(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[hh.ProxiedWorld]:
    with hh.running_world(tmp_path, ORG) as running:
        running.members({"Users": [ANN, BOSS, NEW], "Admins": []})
        running.write_config(policy=POLICY)
        yield running


def saved_plan(world: hh.ProxiedWorld, *extra: str) -> tuple[Path, dict[str, Any]]:
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


def state_dir(world: hh.ProxiedWorld) -> Path:
    return config_module.load(world.config).state_dir


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("syncd:")]


def readable(folder: Path, since: dict[Path, int]) -> list[dict[str, Any]]:
    """Audit events written after `since`, skipping a torn line as `syncd audit` does."""
    events = []
    for path in sorted(folder.glob("audit-*.jsonl")):
        with path.open("rb") as handle:
            handle.seek(since.get(path, 0))
            for line in handle.read().decode("utf-8", errors="replace").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    events.append(json.loads(line))
    return events


def row(record: Record, order: tuple[object, ...], case: str, expected: str, seen: str) -> None:
    record(SECTION, LAYOUT, [case, expected, seen], order)


# -- 1. sealed plans ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["edited", "edited and re-sealed"])
def test_an_edited_plan_is_refused(world: hh.ProxiedWorld, how: str, record: Record) -> None:
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


def test_an_old_plan_with_created_edited_is_refused(world: hh.ProxiedWorld, record: Record) -> None:
    path, data = saved_plan(world)
    data["created"] = "2099-01-01T00:00:00+00:00"
    write(path, data)
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(path))
    row(record, ("plan", 2), "reviewed plan with `created` edited", "exit 3 naming created", f"exit {code}")
    assert code == 3 and "created do(es) not match its seal" in err


def test_a_signing_key_makes_write_access_to_the_plan_not_enough(
    world: hh.ProxiedWorld, record: Record
) -> None:
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
    world: hh.ProxiedWorld, record: Record
) -> None:
    """A guard stops the run and saves the refused plan in the state folder; adding changes to it and
    applying it with --override-guards is refused like any edited plan."""
    assert syncd("run", "-c", str(world.config))[0] == 0  # adopts ann's seat
    world.members({"Users": [BOSS, NEW, MALLORY], "Admins": []})  # ann leaves: one removal
    world.write_config(policy=POLICY.replace("max_removals = 100", "max_removals = 0"))
    code, _, err = syncd("run", "-c", str(world.config))
    assert code == 3, err
    (refused,) = state_dir(world).glob("refused-plan-*.json")
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


# -- 5. every stop accounted for ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_batch_in_flight_and_exits_4(
    world: hh.ProxiedWorld, sig: signal.Signals, record: Record
) -> None:
    """`syncd run` (a real process) gets the signal while its 2nd of 4 single-change batches is at 7pace:
    that batch completes and is audited, the rest are not sent, a run summary is written, exit 4."""
    world.members({"Users": [ANN, BOSS, NEW, MALLORY, *EXTRA], "Admins": []})
    config = world.write_config(policy=POLICY, batch_size=1)
    hold = hh.Hold("POST users/roles", 2, "forward")
    world.proxy.hold = hold
    mark = world.audit_mark()
    process = hh.start_run(config)
    try:
        assert hold.arrived.wait(60), "the run never sent its 2nd batch"
        process.send_signal(sig)
        time.sleep(0.3)
        hold.release()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        hold.release()
    events = world.audit(mark)
    summaries = [e for e in events if e["event.action"] == "run-summary"]
    done = [e for e in events if e["event.action"] == "seat-assign" and e["event.outcome"] == "success"]
    row(
        record,
        ("stop", 1, sig.name),
        f"{sig.name} while batch 2 of 4 is at 7pace",
        "exit 4; batch 2 finished and audited; summary",
        f"exit {process.returncode}; {len(done)} audited; {len(summaries)} summary",
    )
    assert process.returncode == 4
    assert len(done) == 2 and world.emulator.count("POST users/roles") == 2
    assert [s["process.exit.code"] for s in summaries] == [4]
    assert summaries[0]["syncd.not_applied"] == 2


def test_deleting_the_lock_file_does_not_let_a_second_run_in(world: hh.ProxiedWorld, record: Record) -> None:
    assert syncd("run", "-c", str(world.config))[0] == 0
    state = state_dir(world)
    with RunLock(state, "run"):
        (state / "syncd.lock").unlink()
        code, _, err = syncd("run", "-c", str(world.config))
    row(record, ("stop", 2), "syncd.lock deleted while a run holds it", "second run exit 6", f"exit {code}")
    assert code == 6 and "another syncd run holds the lock" in err


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], None]]:
    """Mount a small tmpfs (root on Linux only): a real read-only or full file system, also for root."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
        mounted.append(path)

    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def make_read_only(path: Path, tmpfs: Callable[[Path, str], None]) -> None:
    """Mount a read-only copy of `path` over it (a remount would fail while a diagnostics file is open)."""
    copy = path.parent / f"{path.name}.copy"
    shutil.copytree(path, copy)
    tmpfs(path, "4m")
    shutil.copytree(copy, path, dirs_exist_ok=True)
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


@pytest.mark.parametrize("folder", ["state", "logs"])
def test_a_read_only_folder_is_exit_5_naming_it(
    world: hh.ProxiedWorld, folder: str, tmpfs: Callable[[Path, str], None], record: Record
) -> None:
    assert syncd("run", "-c", str(world.config))[0] == 0
    world.members({"Users": [ANN, BOSS, NEW, MALLORY], "Admins": []})
    make_read_only(world.root / folder, tmpfs)
    before = world.roles()
    code, _, err = syncd("run", "-c", str(world.config))
    lines = errors(err)
    row(
        record,
        ("disk", 1, folder),
        f"{folder} folder read-only",
        "exit 5 naming the folder; nothing sent",
        f"exit {code}; {len(hh.changed(before, world.roles()))} changed",
    )
    assert code == 5 and world.roles() == before
    assert len(lines) == 1 and str(world.root / folder) in lines[0] and "internal error" not in lines[0]


def test_a_full_audit_disk_is_exit_5_and_the_torn_line_is_repaired(
    world: hh.ProxiedWorld, tmpfs: Callable[[Path, str], None], record: Record
) -> None:
    """The audit disk fills: exit 5 naming the file, nothing sent. A torn last line (the disk filled
    mid-line) is ended before the next run appends, so every later event reads back."""
    logs = world.root / "logs"
    tmpfs(logs, "64k")
    assert syncd("run", "-c", str(world.config))[0] == 0
    world.members({"Users": [ANN, BOSS, NEW, MALLORY], "Admins": []})
    filler = logs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"x" * 512)
    os.close(fd)
    mark, before = world.audit_mark(), world.roles()
    code, _, err = syncd("run", "-c", str(world.config))
    lines = errors(err)
    sent = hh.changed(before, world.roles())
    # what 7pace got before the audit write failed has its intent: the next run settles it
    unaccounted = sent - hh.covered(readable(logs, mark))
    full = (code, len(unaccounted))
    assert code == 5 and not unaccounted, err
    assert len(lines) == 1 and "audit log" in lines[0] and str(logs) in lines[0]
    filler.unlink()
    (today,) = logs.glob("audit-*.jsonl")
    if today.read_bytes().endswith(b"\n"):  # the disk filled between two lines: tear one by hand
        with today.open("ab") as handle:
            handle.write(b'{"@timestamp": "2026-')
    code, _, err = syncd("run", "-c", str(world.config))
    text = today.read_text(encoding="utf-8").splitlines()
    broken = []
    for line in text:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            broken.append(line)
    row(
        record,
        ("disk", 2),
        "audit disk full; then a torn last line",
        "exit 5, every change sent has an intent; then exit 0, only the fragment unreadable",
        f"exit {full[0]}, {full[1]} without intent; then exit {code}, {len(broken)} unreadable line(s)",
    )
    assert code == 0, err
    assert len(broken) == 1 and not broken[0].endswith("}")
    assert world.roles()[hh.key(MALLORY)] == "Team"


# -- 4. state integrity ---------------------------------------------------------------------------------------


def empty_database(path: Path) -> None:
    """What a state copied without its -wal after a killed first run looks like: a valid SQLite file with
    no syncd schema in it."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE unrelated (x)")
    db.execute("DROP TABLE unrelated")
    db.close()


def deleted(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


DAMAGE = {
    "deleted": deleted,
    "emptied (0 bytes)": lambda path: path.write_bytes(b""),
    "copied without its -wal": empty_database,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_state_is_refused_and_rebuilt_from_the_audit(
    world: hh.ProxiedWorld, damage: str, record: Record
) -> None:
    """unmanaged = "remove": ann, boss and new hold seats syncd gave or adopted. The state is damaged: exit 2
    naming it, nothing sent. `state rebuild --from-audit` restores the ledger and the group baseline, so
    the group then exported empty is held as suspicious instead of turning into removals."""
    world.write_config(policy=POLICY + '\nunmanaged = "remove"')
    assert syncd("run", "-c", str(world.config))[0] == 0
    state = state_dir(world) / "syncd.sqlite3"
    DAMAGE[damage](state)
    world.members({"Users": [], "Admins": []})  # exported empty
    before = world.roles()
    code, _, err = syncd("run", "-c", str(world.config))
    refused = (code, len(hh.changed(before, world.roles())))
    assert code == 2 and world.roles() == before, err
    assert "this is damage, not a first run" in err and str(state) in err
    rebuilt, out, err = syncd("state", "rebuild", "--from-audit", "-c", str(world.config))
    assert rebuilt == 0, err
    code, _, err = syncd("run", "-c", str(world.config))
    after = world.roles()
    row(
        record,
        ("state", 1, damage),
        f"state {damage}; then the group exported empty (unmanaged = remove)",
        "exit 2, nothing sent; after `state rebuild --from-audit` the removals are held",
        f"exit {refused[0]}, {refused[1]} changed; rebuild exit {rebuilt}; then {len(hh.changed(before, after))} "
        "changed",
    )
    assert after == before, err
    assert "Rebuilt" in out
    assert [e["event.action"] for e in world.audit() if e["event.action"] == "state-rebuilt"] == [
        "state-rebuilt"
    ]
    assert damage == "deleted" or list(state.parent.glob("syncd.sqlite3.damaged-*"))  # kept, never deleted
    again, _, err = syncd("state", "rebuild", "--from-audit", "-c", str(world.config))
    assert again == 2 and "is not damaged" in err  # a healthy state is rebuilt only with --force


# -- 3. clocks ------------------------------------------------------------------------------------------------

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the wall clock every syncd command sees (the CLI reads it through syncd.cli.utc_now)."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr("syncd.cli.utc_now", lambda: moment)

    set_to(T0)
    return set_to


def test_a_clock_far_ahead_does_not_delete_the_audit_trail(
    world: hh.ProxiedWorld, clock: Callable[[datetime], None], record: Record
) -> None:
    """Retention 400 days; 20 days of audit files. A run with the clock 500 days ahead deletes none of them
    (reported, retention refused); confirmed with --accept-clock it deletes at most a tenth (2), never the
    newest."""
    logs = world.root / "logs"
    for day in range(20):
        (logs / f"audit-{(T0 - timedelta(days=day)).date().isoformat()}.jsonl").parent.mkdir(exist_ok=True)
        (logs / f"audit-{(T0 - timedelta(days=day)).date().isoformat()}.jsonl").write_text("{}\n")
    assert syncd("run", "-c", str(world.config))[0] == 0
    clock(T0 + timedelta(days=500))
    code, _, err = syncd("run", "-c", str(world.config))
    left = len(list(logs.glob("audit-*.jsonl")))
    accepted, _, accepted_err = syncd("run", "-c", str(world.config), "--accept-clock")
    after_accept = len(list(logs.glob("audit-*.jsonl")))
    row(
        record,
        ("clock", 1),
        "clock 500 days ahead, retention 400 days, 20 audit files; then --accept-clock",
        "none deleted, reported; then at most 2 deleted",
        f"exit {code}, {20 - left + 1} deleted; then exit {accepted}, {left - after_accept} deleted",
    )
    assert code == 0 and left == 21 and "clock not trusted" in err, err  # 20 + the new day's file
    assert accepted == 0 and left - after_accept == 2, accepted_err


@pytest.mark.parametrize(
    ("wrong", "what"),
    [(-timedelta(days=2), "2 days behind"), (timedelta(days=365), "a year ahead")],
    ids=["behind", "ahead"],
)
def test_one_wrong_clock_neither_skips_nor_stretches_grace(
    world: hh.ProxiedWorld, clock: Callable[[datetime], None], wrong: timedelta, what: str, record: Record
) -> None:
    """grace 24 h. ann leaves; the run that first sees it has a clock `what`. Correct runs follow at
    T0+1h (must not remove: grace starts now) and T0+26h (must remove: grace over)."""
    world.write_config(policy=POLICY.replace('grace = "0s"', 'grace = "24h"'))
    assert syncd("run", "-c", str(world.config))[0] == 0  # adopts ann's seat at T0
    world.members({"Users": [BOSS, NEW], "Admins": []})
    clock(T0 + wrong)
    first, _, err = syncd("run", "-c", str(world.config))
    clock(T0 + timedelta(hours=1))
    syncd("run", "-c", str(world.config))
    early = world.roles()[hh.key(ANN)]
    clock(T0 + timedelta(hours=26))
    syncd("run", "-c", str(world.config))
    late = world.roles()[hh.key(ANN)]
    row(
        record,
        ("clock", 2, what),
        f"grace 24 h; the run that first sees a leaver has its clock {what}",
        "reported; seat kept at +1 h, removed at +26 h",
        f"{'reported' if 'clock not trusted' in err else 'not reported'}; {early} at +1 h, {late} at +26 h",
    )
    assert "clock not trusted" in err and first == 0
    assert (early, late) == ("Team", "None")


def test_a_reviewed_plan_is_refused_while_the_clock_is_not_trusted(
    world: hh.ProxiedWorld, clock: Callable[[datetime], None], record: Record
) -> None:
    assert syncd("run", "-c", str(world.config))[0] == 0
    clock(T0 - timedelta(days=3))
    path, _ = saved_plan(world)
    code, _, err = syncd("apply", "-c", str(world.config), "--plan", str(path))
    row(record, ("clock", 3), "apply --plan with the clock 3 days behind", "exit 3", f"exit {code}")
    assert code == 3 and "the clock is not trusted" in err


# -- 2. state bound to its target -----------------------------------------------------------------------------

SHARED = "shared@contoso.example"


@contextlib.contextmanager
def two_organisations(tmp_path: Path) -> Iterator[tuple[hh.ProxiedWorld, TimetrackerEmulator, Path]]:
    """Organisation 1 (the world's emulator) and organisation 2 (a second emulator, where shared@ holds a
    seat given by hand), with one config each in the same folder: syncd.toml and org2.toml."""
    org2 = TimetrackerEmulator(
        [EmulatedUser(SHARED, "Team")], token=hh.TOKEN, quota_per_second=None, quota_per_minute=None
    )
    with hh.running_world(tmp_path, [EmulatedUser(SHARED)]) as world, org2:
        world.members({"Users": [SHARED], "Admins": [], "Org2Users": []})
        world.write_config(rules=[("Org2Users", "Team")], policy=POLICY, url=org2.onprem_url("Org2"))
        second = world.root / "org2.toml"
        world.config.replace(second)
        world.write_config(policy=POLICY, url=world.emulator.onprem_url("Org1"))
        yield world, org2, second


def test_two_organisations_in_one_folder_keep_their_own_ledgers(tmp_path: Path, record: Record) -> None:
    """Organisation 1's run assigns shared@ (its ledger owns them). Organisation 2's run must not remove
    the seat shared@ was given by hand there, and organisation 1's ledger must survive it."""
    with two_organisations(tmp_path) as (world, org2, second):
        assert syncd("run", "-c", str(world.config))[0] == 0
        code, _, err = syncd("run", "-c", str(second))
        kept = org2.roles_by_email().get(SHARED, "None")
        replan = syncd("plan", "-c", str(world.config), "--detailed-exitcode")[0]
    row(
        record,
        ("target", 1),
        "two configs (two 7pace organisations) in one folder, default state",
        "org 2 keeps its hand-given seat; org 1's re-plan empty",
        f"org 2 exit {code}, seat {kept}; org 1 re-plan exit {replan}",
    )
    assert code == 0 and kept == "Team", err
    assert replan == 0


def test_a_state_used_with_another_target_is_refused(tmp_path: Path, record: Record) -> None:
    with two_organisations(tmp_path) as (world, org2, second):
        for path in (world.config, second):
            path.write_text(
                path.read_text(encoding="utf-8") + '\n[state]\ndir = "one-state"\n', encoding="utf-8"
            )
        assert syncd("run", "-c", str(world.config))[0] == 0
        code, _, err = syncd("run", "-c", str(second))
        kept = org2.roles_by_email().get(SHARED, "None")
    row(
        record,
        ("target", 2),
        "one [state] dir set in the configs of two organisations",
        "the second exits 2 naming both targets; nothing sent",
        f"exit {code}, seat {kept}",
    )
    assert code == 2 and kept == "Team" and org2.count("POST users/roles") == 0
    assert "belongs to timetracker at 127.0.0.1/api/org1" in err and "api/org2" in err


def test_the_old_default_state_is_carried_over(world: hh.ProxiedWorld, record: Record) -> None:
    """A state in the former default folder (`state/` beside the config) moves into the target's own
    folder at the next run, ledger and all, without a manual step."""
    text = world.config.read_text(encoding="utf-8")
    world.config.write_text(text + '\n[state]\ndir = "state"\n', encoding="utf-8")
    assert syncd("run", "-c", str(world.config))[0] == 0  # the old layout: state/syncd.sqlite3
    world.config.write_text(text, encoding="utf-8")
    world.members({"Users": [BOSS, NEW], "Admins": []})  # ann, whose seat the old state owns, leaves
    code, _, err = syncd("run", "-c", str(world.config))
    moved = (state_dir(world) / "syncd.sqlite3").exists() and not (
        world.root / "state" / "syncd.sqlite3"
    ).exists()
    row(
        record,
        ("target", 3),
        "state in the pre-upgrade default folder; then a leaver",
        "carried over to the target's folder; the leaver's seat removed",
        f"exit {code}, {'carried over' if moved else 'not carried over'}, ann {world.roles()[hh.key(ANN)]}",
    )
    assert code == 0 and moved, err
    assert world.roles()[hh.key(ANN)] == "None"


def test_a_seat_given_back_by_someone_else_is_reported_not_fought(
    world: hh.ProxiedWorld, record: Record
) -> None:
    """unmanaged = "remove": syncd removes ann (no rule selects her); a second instance (or a person)
    gives the seat back. The next run reports it and holds the removal instead of fighting."""
    world.write_config(policy=POLICY + '\nunmanaged = "remove"')
    world.members({"Users": [BOSS, NEW], "Admins": []})
    assert syncd("run", "-c", str(world.config))[0] == 0
    assert world.roles()[hh.key(ANN)] == "None"
    world.emulator.set_role(ANN, "Team")
    code, _, err = syncd("run", "-c", str(world.config))
    reported = any("given back outside syncd" in line for line in errors(err))
    row(
        record,
        ("target", 4),
        "a seat syncd removed is given back by someone else (unmanaged = remove)",
        "reported; not removed again",
        f"exit {code}; {'reported' if reported else 'not reported'}; ann {world.roles()[hh.key(ANN)]}",
    )
    assert reported and world.roles()[hh.key(ANN)] == "Team"


# -- 7. the cross-run removal budget --------------------------------------------------------------------------


def test_a_group_shrinking_just_under_the_guard_every_run_is_stopped(tmp_path: Path, record: Record) -> None:
    """100 seats; the group loses 9 % of its members before each of 10 runs (max_removal_percent = 10, so no
    single run trips it). The removals of the last 7 days together may not pass 25 % of the seats: a run
    stops (exit 3) before the seats fall below 75."""
    people = hh.users("p", range(100))
    with hh.running_world(tmp_path, [EmulatedUser(p, "Team") for p in people]) as world:
        world.members({"Users": people, "Admins": []})
        world.write_config(policy='grace = "0s"\nmax_removals = 1000\nmax_group_shrink_percent = 100')
        assert syncd("run", "-c", str(world.config))[0] == 0  # adopts the 100 seats
        members, codes = list(people), []
        for _ in range(10):
            members = members[: len(members) - len(members) * 9 // 100]
            world.members({"Users": members, "Admins": []})
            codes.append(syncd("run", "-c", str(world.config))[0])
        seats = sum(1 for r in world.roles().values() if r != hh.NONE)
    row(
        record,
        ("removal budget", 1),
        "group shrinks 9 % before each of 10 runs (100 seats, max_removal_percent = 10)",
        "a run stops with exit 3 before seats fall below 75",
        f"exits {''.join(str(c) for c in codes)}; {seats} seats left",
    )
    assert 3 in codes and seats >= 75
