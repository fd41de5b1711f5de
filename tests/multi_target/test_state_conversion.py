"""Issue 19 follow-up (a new user's trial): converting a single `[target]` config that sets `[state] dir` to
`[[targets]]` must not forget its ledger. The state in `dir` itself is carried over into `dir/NAME` of the
target it is bound to; one bound to no configured target, or to nothing, is never guessed at and is named in
one warning line while every target runs on its own state. Two targets that differ only by port or scheme are
one target, and the message says why and what tells two servers on one host apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.errors import ExitCode
from syncd.state import STATE_FILE, State
from tests.support.cli import run_cli as run

from .conftest import Fleet
from .test_multi_target import PEOPLE, single_target_config

STATE_DIR = '\n[state]\ndir = "state"\n'  # as config.example.toml sets it
BOB_LEFT = {"Users": ["ann@example.com"], "Admins": ["ann@example.com"]}


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if STATE_FILE in line]


def test_converted_config_with_state_dir_keeps_its_ledger(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reproduction: months with one [target] and `[state] dir = "state"` (syncd gave bob his seat in
    OrgA), then the same file lists three [[targets]]. Bob leaves: the old ledger still says the seat is
    syncd's, so it is removed — not kept as a seat "assigned outside syncd"."""
    fleet.members(PEOPLE)
    single = single_target_config(fleet, fleet.config)
    single.write_text(single.read_text(encoding="utf-8") + STATE_DIR, encoding="utf-8")
    code, out, err = run(["apply", "-c", str(single)], capsys)
    assert code == 0, out + err
    assert fleet.org_a.roles_by_email()["bob@example.com"] == "Team"
    old = fleet.root / "state" / STATE_FILE
    assert old.exists()  # the single-target layout: the ledger in `dir` itself

    fleet.members(BOB_LEFT)
    cfg = str(fleet.write_config(extra=STATE_DIR))
    code, out, err = run(["status", "-c", cfg], capsys)
    assert code == 0, out + err
    # status carries nothing over, but does not leave the old ledger unmentioned
    assert any("target org-a's state" in line and "state/org-a" in line for line in warnings(err)), err
    assert old.exists()

    code, out, err = run(["plan", "-c", cfg, "--target", "org-a"], capsys)
    assert code == 0, out + err
    assert "seat assigned by syncd" in out and "bob@example.com" in out, out
    assert "1 seat(s) assigned outside syncd" in out  # old@example.com, never syncd's; bob is not one
    assert warnings(err) == [], err  # carried over: nothing to warn about
    assert not old.exists()
    assert (fleet.root / "state" / "org-a" / STATE_FILE).exists()

    code, out, err = run(["apply", "-c", cfg], capsys)
    assert code == 0, out + err
    assert "bob@example.com" not in fleet.org_a.roles_by_email()  # syncd's seat, removed
    assert fleet.org_a.roles_by_email()["old@example.com"] == "Team"  # never syncd's: kept
    assert fleet.org_b.roles_by_email() == {"ann@example.com": "Team"}  # its own (new) state: bob never
    assert warnings(err) == [], err


def _leave_state(directory: Path, bound: dict[str, str] | None) -> Path:
    """A state file in `directory` as a single-target config leaves it: bound to `bound`, or unbound (made
    before states recorded their target)."""
    with State(directory) as state:
        if bound is not None:
            state.bind_target(bound)
    return directory / STATE_FILE


@pytest.mark.parametrize(
    ("extra", "bound", "says"),
    [
        (STATE_DIR, None, "records no target"),
        ("", None, "records no target"),  # the default layout's pre-binding state/
        (
            STATE_DIR,
            {"type": "timetracker", "url": "tt.example.org/api/elsewhere", "organisation": "elsewhere"},
            "belongs to timetracker at tt.example.org/api/elsewhere, organisation elsewhere, none of",
        ),
    ],
    ids=["unbound-in-dir", "unbound-default-layout", "foreign-in-dir"],
)
def test_state_no_target_can_claim_is_named_and_the_run_goes_on(
    fleet: Fleet,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    bound: dict[str, str] | None,
    says: str,
) -> None:
    fleet.members(PEOPLE)
    stray = _leave_state(fleet.root / "state", bound)
    cfg = str(fleet.write_config(extra=extra))

    code, out, err = run(["plan", "-c", cfg, "--detailed-exitcode"], capsys)
    assert code == 10, out + err  # as without the stray state: every target planned, changes pending
    lines = warnings(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"syncd: warning: {stray} ") and says in lines[0], lines[0]
    # what to do: a way to attribute it, and each target's own folder
    assert "single-target config" in lines[0] or "state rebind" in lines[0]
    for name in ("org-a", "org-b", "tt"):
        assert f"{name}: {fleet.root / 'state'}" in lines[0]

    code, out, err = run(["apply", "-c", cfg], capsys)
    assert code == 0, out + err  # every target applied on its own (new) state, as before
    assert "Total: 3 target(s), 0 not ok; applied 6 of 6 change(s)" in out
    assert len(warnings(err)) == 1 and says in warnings(err)[0]
    assert stray.exists()  # never guessed at: left where it is

    code, out, err = run(["status", "-c", cfg], capsys)
    assert code == 0 and len(warnings(err)) == 1 and says in warnings(err)[0], err


def test_state_of_a_target_that_has_its_own_is_named(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """The single-target state is org-a's, but org-a has its own state in dir/org-a already: that one is used
    (a target's own state is authoritative), and the leftover is named rather than silently ignored."""
    fleet.members(PEOPLE)
    cfg = str(fleet.write_config(extra=STATE_DIR))
    assert run(["apply", "-c", cfg], capsys)[0] == 0
    with State(fleet.root / "state" / "org-a") as own:
        org_a = own.target_binding()
    stray = _leave_state(fleet.root / "state", org_a)

    code, out, err = run(["plan", "-c", cfg], capsys)
    assert code == 0, out + err
    lines = warnings(err)
    assert len(lines) == 1 and f"{stray} is target org-a's state" in lines[0], err
    assert "which is the one used" in lines[0]
    assert stray.exists()


def test_two_targets_differing_by_port_only_say_why(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    fleet.members(PEOPLE)
    cfg = fleet.write_config()
    text = cfg.read_text(encoding="utf-8")
    # org-b: OrgA's collection on the other emulator (same host, another port)
    cfg.write_text(
        text.replace(fleet.org_b.onprem_url("OrgB"), fleet.org_b.onprem_url("OrgA")), encoding="utf-8"
    )
    assert fleet.org_a.port != fleet.org_b.port
    code, _, err = run(["check", "--offline", "-c", str(cfg)], capsys)
    assert code == ExitCode.CONFIG
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "targets[1]: 'org-b' is the same target as 'org-a'" in lines[0]
    assert "a port or scheme is not part of it" in lines[0]
    assert "told apart by their collection path (…/api/<Collection>)" in lines[0]
