"""End to end through the CLI: Azure DevOps (with an Entra group inside) → plan → 7pace → apply → re-plan empty;
and a service principal with a bad secret → exit 5, the AADSTS line shown, the secret nowhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.tls import TestCA

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import Cloud

TOKEN = "sentinel-7pace-token-cloud-e2e"
PEOPLE = ("ann", "bob", "dana", "eli", "fay", "zed")


@pytest.fixture
def timetracker(test_ca: TestCA) -> Iterator[TimetrackerEmulator]:
    users = [EmulatedUser(f"{name}@contoso.com") for name in PEOPLE]
    emulator = TimetrackerEmulator(
        users, token=TOKEN, quota_per_second=None, quota_per_minute=None, ssl_context=test_ca.server_context()
    )
    with emulator:
        yield emulator


def _directory(cloud: Cloud) -> None:
    """[contoso]\\Timetracker Users ⊃ ann, [contoso]\\Leads ⊃ bob, Entra group Engineering ⊃ dana, eli, fay (disabled).
    [contoso]\\Timetracker Admins ⊃ ann."""
    entra, ado = cloud.entra_dir, cloud.ado_dir
    engineering = entra.add_group("Engineering")
    for name in ("dana", "eli"):
        entra.add_member(engineering, entra.add_user(f"{name}@contoso.com"))
    entra.add_member(engineering, entra.add_user("fay@contoso.com", enabled=False))
    users, leads, admins = (
        ado.add_group("Timetracker Users"),
        ado.add_group("Leads"),
        ado.add_group("Timetracker Admins"),
    )
    ann = ado.add_user("ann@contoso.com")
    ado.add_member(users, ann)
    ado.add_member(users, leads)
    ado.add_member(leads, ado.add_user("bob@contoso.com"))
    ado.add_member(users, ado.add_entra_group("Engineering", engineering))
    ado.add_member(admins, ann)


def _config(cloud: Cloud, timetracker: TimetrackerEmulator, ado_auth: str) -> Path:
    token = cloud.folder / "token.txt"
    token.write_text(TOKEN)
    token.chmod(0o600)
    cloud.secret_file("entra.txt", cloud.client_secret)
    text = f"""
[target]
type = "timetracker"
url = "{timetracker.base_url}"
token = {{ file = "token.txt" }}
ca_bundle = "ca.pem"

[[sources]]
name = "ado"
type = "azure_devops"
organization = "contoso"
vssps_url = "{cloud.ado.base_url}"
{ado_auth}
expand_entra_with = "aad"
ca_bundle = "ca.pem"

[[sources]]
name = "aad"
type = "entra"
tenant_id = "{cloud.tenant}"
client_id = "{cloud.client_id}"
client_secret = {{ file = "entra.txt" }}
graph_url = "{cloud.graph.base_url}"
authority_url = "{cloud.authority.base_url}"
ca_bundle = "ca.pem"

[[rules]]
source = "ado"
group = "[contoso]\\\\Timetracker Admins"
role = "Administrator"

[[rules]]
source = "ado"
group = "[contoso]\\\\Timetracker Users"
role = "Team"

[roles]
order = ["Administrator", "Budget", "Product", "Team"]

[policy]
grace = "0s"

[state]
dir = "state"

[audit]
dir = "logs"
"""
    path = cloud.folder / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_azure_devops_to_7pace_apply_then_plan_is_empty(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _directory(cloud)
    config = _config(cloud, timetracker, 'pat = { file = "pat.txt" }')
    cloud.secret_file("pat.txt", cloud.pat)

    assert main(["apply", "-c", str(config)]) == 0

    assert timetracker.roles_by_email() == {
        "ann@contoso.com": "Administrator",
        "bob@contoso.com": "Team",
        "dana@contoso.com": "Team",
        "eli@contoso.com": "Team",
    }
    capsys.readouterr()
    assert main(["plan", "-c", str(config), "--format", "json", "--detailed-exitcode"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["changes"] == []
    assert cloud.graph.count("GET", "/transitiveMembers") == 2  # once per run: cached within a run


def test_bad_client_secret_exits_5_with_the_aadsts_text_and_no_secret(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _directory(cloud)
    wrong = "Wrong~Secret.value-0123456789abcdef"
    auth = (
        f'tenant_id = "{cloud.tenant}"\nclient_id = "{cloud.client_id}"\nclient_secret = {{ file = "bad.txt" }}\n'
        f'authority_url = "{cloud.authority.base_url}"'
    )
    config = _config(cloud, timetracker, auth)
    cloud.secret_file("bad.txt", wrong)

    code = main(["-vv", "apply", "-c", str(config)])

    out, err = capsys.readouterr()
    assert code == 5
    assert "AADSTS7000215: Invalid client secret provided." in out + err
    assert wrong not in out + err
    assert cloud.client_secret not in out + err
    assert TOKEN not in out + err
    assert timetracker.roles_by_email() == {}


def test_refused_expansion_source_exits_5_and_removes_nobody(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: the Entra secret used to expand an Entra group inside an ADO group expires. The run must
    exit 5 (as if the rule's own source were down), name the expansion source, and remove nobody."""
    _directory(cloud)
    config = _config(cloud, timetracker, 'pat = { file = "pat.txt" }')
    cloud.secret_file("pat.txt", cloud.pat)
    assert main(["apply", "-c", str(config)]) == 0
    assert timetracker.roles_by_email()["dana@contoso.com"] == "Team"
    cloud.secret_file("entra.txt", "Expired~Secret.value-0123456789abcdef")
    capsys.readouterr()

    assert main(["run", "-c", str(config)]) == 5

    err = capsys.readouterr().err
    assert "source aad:" in err and "AADSTS7000215" in err
    assert "Expired~Secret" not in err
    assert timetracker.roles_by_email()["dana@contoso.com"] == "Team"
    assert timetracker.roles_by_email()["eli@contoso.com"] == "Team"
    assert main(["plan", "-c", str(config)]) == 5


def test_a_partial_group_exits_4_and_says_which(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: an Entra group inside an ADO group with no expand_entra_with makes the read partial: the
    people it would add wait, removals it could explain are held, and the run exits 4 (not 0)."""
    _directory(cloud)
    config = _config(cloud, timetracker, 'pat = { file = "pat.txt" }')
    config.write_text(config.read_text(encoding="utf-8").replace('expand_entra_with = "aad"\n', ""), "utf-8")
    cloud.secret_file("pat.txt", cloud.pat)

    assert main(["run", "-c", str(config)]) == 4

    err = capsys.readouterr().err
    assert "group '[contoso]\\\\Timetracker Users' of source ado is partial" in err
    assert "expand_entra_with" in err
    assert timetracker.roles_by_email() == {"ann@contoso.com": "Administrator", "bob@contoso.com": "Team"}
    assert main(["plan", "-c", str(config), "--detailed-exitcode"]) == 4
