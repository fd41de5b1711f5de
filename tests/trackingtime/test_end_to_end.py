"""End to end through the CLI with `[target] type = "trackingtime"` over HTTPS: plan → apply → re-plan empty;
leaving the group archives (never deletes), coming back re-opens (never re-invites); grace, guards and
ownership work as they do for 7pace; pending invitations are named in the plan and counted as paid seats in
the per-active-user cost preview."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.emulators.tls import TestCA
from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser

from .conftest import ACCOUNT, PASSWORD

OWNER = TtUser("owner@contoso.example", "ADMIN", owner=True)  # holds a seat no rule selects: left alone


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def tt(ca: TestCA) -> Iterator[TrackingTimeEmulator]:
    emulator = TrackingTimeEmulator(
        [
            OWNER,
            TtUser("ann@contoso.example", "CO_WORKER"),
            TtUser("cy@contoso.example", "CO_WORKER", archived=True),
            TtUser("fred@contoso.example", "CO_WORKER"),
        ],
        account_id=ACCOUNT,
        app_password=PASSWORD,
        ssl_context=ca.server_context(),
    )
    with emulator:
        yield emulator


def members(folder: Path, groups: dict[str, list[str]]) -> None:
    rows = ["group,email"]
    for group, names in groups.items():
        rows.append(f"{group},")
        rows += [f"{group},{name}@contoso.example" for name in names]
    (folder / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def config(
    folder: Path,
    tt: TrackingTimeEmulator,
    ca: TestCA,
    *,
    policy: str = 'grace = "0s"\nmax_removal_percent = 100',
    extra: str = "",
) -> str:
    secret = folder / "tt.txt"
    secret.write_text(PASSWORD, encoding="utf-8")
    secret.chmod(0o600)
    ca.write_ca(folder / "ca.pem")
    path = folder / "syncd.toml"
    path.write_text(
        f"""
[target]
type = "trackingtime"
url = "{tt.api_url}"
account_id = {ACCOUNT}
app_password = {{ file = "tt.txt" }}
ca_bundle = "ca.pem"
requests_per_second = 0

[[sources]]
name = "hr"
type = "file"
path = "members.csv"

[[rules]]
source = "hr"
group = "Staff"
role = "CO_WORKER"

[[rules]]
source = "hr"
group = "Leads"
role = "PROJECT_MANAGER"

[policy]
{policy}
{extra}
""",
        encoding="utf-8",
    )
    return str(path)


def plan_json(cfg: str, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    main(["plan", "-c", cfg, "--format", "json"])
    return json.loads(capsys.readouterr().out)


def test_plan_apply_replan_empty(tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capsys) -> None:
    members(tmp_path, {"Staff": ["ann", "cy", "dana"], "Leads": ["fred"]})
    cfg = config(tmp_path, tt, ca)
    assert main(["plan", "-c", cfg, "--detailed-exitcode"]) == 10
    assert main(["apply", "-c", cfg]) == 0
    assert tt.roles_by_email() == {
        "owner@contoso.example": "ADMIN",
        "ann@contoso.example": "CO_WORKER",
        "cy@contoso.example": "CO_WORKER",  # re-opened
        "fred@contoso.example": "PROJECT_MANAGER",
        "dana@contoso.example": "CO_WORKER",  # invited
    }
    assert tt.count("PUT users/open") == 1 and tt.count("POST users/invite") == 1
    assert main(["plan", "-c", cfg, "--detailed-exitcode"]) == 0

    # dana's invitation is pending: named in the plan, and a seat like any other
    plan = plan_json(cfg, capsys)
    assert any("pending invitations" in note and "dana@contoso.example" in note for note in plan["notes"])
    assert plan["seats"]["before"] == 5

    # dana leaves: archived, not deleted; comes back: re-opened, not invited again
    members(tmp_path, {"Staff": ["ann", "cy"], "Leads": ["fred"]})
    assert main(["apply", "-c", cfg]) == 0
    assert tt.user("dana@contoso.example").archived
    members(tmp_path, {"Staff": ["ann", "cy", "dana"], "Leads": ["fred"]})
    assert main(["apply", "-c", cfg]) == 0
    assert not tt.user("dana@contoso.example").archived
    assert tt.count("POST users/invite") == 1 and tt.count("PUT users/open") == 2
    assert main(["plan", "-c", cfg, "--detailed-exitcode"]) == 0
    assert "owner@contoso.example" in tt.roles_by_email()  # unmanaged seat kept

    events = [
        json.loads(line)
        for path in sorted((tmp_path / "logs").glob("audit-*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    archived = [
        e for e in events if e.get("event.action") == "seat-unassign" and e.get("event.outcome") == "success"
    ]
    assert [e["user.target.email"] for e in archived] == ["dana@contoso.example"]
    assert (
        PASSWORD
        not in (tmp_path / "logs")
        .joinpath(sorted(p.name for p in (tmp_path / "logs").iterdir())[0])
        .read_text()
    )


def test_grace_holds_the_archive(tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capsys) -> None:
    """fred leaves the group: within grace (24 h) his seat stays; the plan holds the archive."""
    members(tmp_path, {"Staff": ["ann", "fred"], "Leads": []})
    cfg = config(tmp_path, tt, ca, policy='grace = "24h"')
    assert main(["apply", "-c", cfg]) == 0
    members(tmp_path, {"Staff": ["ann"], "Leads": []})
    capsys.readouterr()
    assert main(["apply", "-c", cfg]) == 0  # a grace hold is the policy working, not held work
    assert "1 held" in capsys.readouterr().out
    assert not tt.user("fred@contoso.example").archived  # still within grace


def test_removal_guard_stops_the_run(tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA) -> None:
    """max_removals = 0: archiving fred would be one removal too many, so the run stops (exit 3)."""
    members(tmp_path, {"Staff": ["ann", "fred"], "Leads": []})
    policy = 'grace = "0s"\nmax_removals = 0\nmax_group_shrink_percent = 100'
    cfg = config(tmp_path, tt, ca, policy=policy)
    assert main(["apply", "-c", cfg]) == 0
    members(tmp_path, {"Staff": ["ann"], "Leads": []})
    assert main(["apply", "-c", cfg]) == 3
    assert not tt.user("ann@contoso.example").archived and not tt.user("fred@contoso.example").archived


def test_cost_preview_counts_active_users_and_pending_invitations(
    tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capsys
) -> None:
    tt.add_user(TtUser("pia@contoso.example", pending=True))
    members(tmp_path, {"Staff": ["ann", "fred", "pia", "dana"], "Leads": []})
    pricing = '[pricing]\nmodel = "per-active-user"\nprice_per_seat = 7\ncurrency = "USD"\nperiod = "month"\nrenewal = 2026-01-01'
    cfg = config(tmp_path, tt, ca, extra=pricing)
    plan = plan_json(cfg, capsys)
    # owner, ann, fred, pia (pending) hold seats; dana is invited: 4 → 5 billed active users
    assert (plan["seats"]["before"], plan["seats"]["after"]) == (4, 5)
    assert plan["cost"]["model"] == "per-active-user"


def test_check_reads_the_account(tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capsys) -> None:
    members(tmp_path, {"Staff": ["ann"], "Leads": []})
    cfg = config(tmp_path, tt, ca)
    assert main(["check", "-c", cfg]) == 0
    assert "target trackingtime: 3 seat(s) held" in capsys.readouterr().out


def test_an_emptied_group_is_suspicious_and_archives_nobody(
    tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA
) -> None:
    members(tmp_path, {"Staff": ["ann", "fred"], "Leads": []})
    cfg = config(tmp_path, tt, ca)
    assert main(["apply", "-c", cfg]) == 0
    members(tmp_path, {"Staff": [], "Leads": []})
    assert main(["apply", "-c", cfg]) == 4
    assert not tt.user("ann@contoso.example").archived and not tt.user("fred@contoso.example").archived


def test_a_state_bound_to_one_account_refuses_another(
    tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capsys
) -> None:
    """Issue 21's binding holds for TrackingTime: the account id is part of the target's identity."""
    members(tmp_path, {"Staff": ["ann"], "Leads": []})
    cfg = Path(config(tmp_path, tt, ca, extra='[state]\ndir = "shared-state"'))
    assert main(["apply", "-c", str(cfg)]) == 0
    cfg.write_text(cfg.read_text().replace(f"account_id = {ACCOUNT}", f"account_id = {ACCOUNT + 1}"))
    capsys.readouterr()
    assert main(["plan", "-c", str(cfg)]) == 2
    assert str(ACCOUNT) in capsys.readouterr().err


def test_the_app_password_is_never_written_or_printed(
    tmp_path: Path, tt: TrackingTimeEmulator, ca: TestCA, capfd
) -> None:
    import base64

    members(tmp_path, {"Staff": ["ann", "dana"], "Leads": ["fred"]})
    cfg = config(tmp_path, tt, ca)
    assert main(["-vv", "apply", "-c", cfg]) == 0
    tt.app_password = "changed"  # and a refused credential, whose message names the secret's reference
    assert main(["-vv", "plan", "-c", cfg]) == 5
    out, err = capfd.readouterr()
    assert "target.app_password" in err  # the key is named, so the operator knows what to fix
    forms = [PASSWORD, base64.b64encode(f"API_TOKEN:{PASSWORD}".encode()).decode()]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "tt.txt"]
    for form in forms:
        assert form not in out + err
        assert not [p for p in written if form.encode() in p.read_bytes()]
