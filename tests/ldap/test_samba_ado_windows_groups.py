"""Through the CLI: an Active Directory group inside an Azure DevOps Server group, which the server lists
without members (its periodic AD copy is late), is read from the Samba DC through `expand_windows_with`."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import BASE, NONE, Connection, Server

from syncd.cli import main
from syncd.emulators.azure_devops import AdoDirectory, AzureDevOpsEmulator
from syncd.emulators.http_server import EmulatorServer
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator

pytestmark = pytest.mark.samba

TOKEN = "issue22-7pace-token-ado-windows"
PAT = "issue22-ado-server-pat"
PASSWORD_ENV = "SYNCD_I22_ADO_LDAP_PASSWORD"


def sid_text(raw: bytes) -> str:
    """objectSid bytes → "S-1-5-21-…" (MS-DTYP 2.4.2)."""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8 : 8 + 4 * count])
    return "S-1-" + "-".join(str(n) for n in (authority, *subs))


def object_sid(dc: Any, dataset: ModuleType, dn: str) -> str:
    conn = Connection(
        Server(dc.host, 389, get_info=NONE),
        dataset.SERVICE_USER,
        dataset.SERVICE_PASSWORD,
        auto_bind=True,
        raise_exceptions=True,
    )
    try:
        conn.search(dn, "(objectClass=group)", BASE, attributes=["objectSid"])
        raw: bytes = conn.response[0]["raw_attributes"]["objectSid"][0]
    finally:
        conn.unbind()
    return sid_text(raw)


@pytest.fixture
def ado(samba: Any, dataset: ModuleType) -> Iterator[AzureDevOpsEmulator]:
    directory = AdoDirectory(organization="contoso")
    users = directory.add_group("Timetracker Users")
    directory.add_member(
        users, directory.add_user("ann@corp.example", principal_name="CORP\\ann", origin="ad")
    )
    sid = object_sid(samba, dataset, dataset.group_dn("GroupC"))
    directory.add_member(users, directory.add_windows_group("GroupC", sid, listed=[]))
    emulator = AzureDevOpsEmulator(directory, pats={PAT})
    server = EmulatorServer(emulator.handle).start()
    emulator.base_url = server.base_url
    try:
        yield emulator
    finally:
        server.stop()


@pytest.fixture
def timetracker(dataset: ModuleType) -> Iterator[TimetrackerEmulator]:
    keys = {dataset.expected_key(i) for i in range(dataset.USERS)} - {None}
    users = [EmulatedUser(k) for k in sorted(keys)] + [EmulatedUser("ann@corp.example")]
    with TimetrackerEmulator(users, token=TOKEN, quota_per_second=None, quota_per_minute=None) as running:
        yield running


def _config(
    root: Path, dc: Any, dataset: ModuleType, ado: AzureDevOpsEmulator, tt: TimetrackerEmulator
) -> str:
    (root / "token.txt").write_text(TOKEN, encoding="utf-8")
    (root / "pat.txt").write_text(PAT, encoding="utf-8")
    for name in ("token.txt", "pat.txt"):
        (root / name).chmod(0o600)
    config = root / "syncd.toml"
    config.write_text(
        f"""
[target]
url = "{tt.base_url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true
requests_per_second = 0
requests_per_minute = 0

{dc.source_toml(bind_user=dataset.SERVICE_USER, password_env=PASSWORD_ENV, base_dn=dataset.BASE_DN)}
[[sources]]
name = "tfs"
type = "azure_devops"
server_url = "{ado.collection_url}"
pat = {{ file = "pat.txt" }}
allow_insecure_http = true
expand_windows_with = "corp"

[[rules]]
source = "tfs"
group = "[contoso]\\\\Timetracker Users"
role = "Team"
""",
        encoding="utf-8",
    )
    return str(config)


def test_a_windows_group_is_read_from_active_directory(
    samba: Any,
    tmp_path: Path,
    dataset: ModuleType,
    ado: AzureDevOpsEmulator,
    timetracker: TimetrackerEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dataset.SERVICE_PASSWORD)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    config = _config(tmp_path, samba, dataset, ado, timetracker)

    main(["plan", "-c", config, "--format", "json"])
    plan = json.loads(capsys.readouterr().out)

    assert [(g["source"], g["health"]) for g in plan["groups"]] == [("tfs", "ok")], plan["groups"]
    enabled = {key for key, on in dataset.expected_members("GroupC").items() if on}
    assigned = {c["key"] for c in plan["changes"] if c["action"] == "seat-assign"}
    assert assigned == enabled | {"ann@corp.example"}
    via = {c["key"]: c["via"] for c in plan["changes"]}
    assert via[dataset.expected_key(201)] == ["CORP\\GroupC"]
