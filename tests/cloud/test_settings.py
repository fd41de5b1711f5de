"""Parsing the azure_devops and entra `[[sources]]` tables: every mistake is one line naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.config_section import Section
from syncd.sources import source_type

GUID = "45aa3d2d-7442-473d-b4d3-3c670da9dd96"


def _problems(kind: str, table: dict[str, Any], folder: Path) -> list[str]:
    problems: list[str] = []
    source_type(kind).parse(Section(table, "sources[1]", folder / "syncd.toml", problems), "x")
    return [p.replace(f"{folder / 'syncd.toml'}: ", "") for p in problems]


@pytest.fixture
def secret(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "secret.txt"
    path.write_text("value")
    path.chmod(0o600)
    return {"file": str(path)}


def test_a_valid_services_table_has_no_problems(tmp_path: Path, secret: dict[str, str]) -> None:
    table = {"organization": "contoso", "pat": secret, "expand_entra_with": "aad", "timeout": 10}
    assert _problems("azure_devops", table, tmp_path) == []


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"pat": "SECRET"},
            [
                "sources[1].pat: secrets must not be written into the config; use a secret "
                'reference: { env = "NAME" }, { file = "path" }, { keyring = "service/user" } '
                'or { credential = "name" }',
                "sources[1].organization: required: the Azure DevOps Services organization, "
                "or server_url for Azure DevOps Server",
            ],
        ),
        ({"organization": "https://dev.azure.com/contoso", "pat": "S"}, None),
        (
            {"organization": "contoso"},
            ["sources[1].pat: required: a PAT, or a service principal (tenant_id, client_id, client_secret)"],
        ),
        ({"organization": "contoso", "server_url": "https://tfs/tfs/DefaultCollection", "pat": "S"}, None),
        (
            {
                "organization": "contoso",
                "pat": "S",
                "tenant_id": GUID,
                "client_id": GUID,
                "client_secret": "S",
            },
            None,
        ),
        ({"organization": "contoso", "pat": "S", "lookup_batch_size": 5000}, None),
        ({"organization": "contoso", "pat": "S", "vssp_url": "https://x"}, None),
    ],
    ids=[
        "no-organization",
        "url-as-organization",
        "no-auth",
        "both-targets",
        "pat-and-principal",
        "batch-too-big",
        "typo",
    ],
)
def test_azure_devops_problems(
    tmp_path: Path, secret: dict[str, str], table: dict[str, Any], expected: list[str] | None
) -> None:
    table = {k: (secret if v == "S" else v) for k, v in table.items()}
    problems = _problems("azure_devops", table, tmp_path)
    if expected is not None:
        assert problems == expected
        return
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith("sources[1].")
    fragments = {
        "organization": "is not an organization name; write just the name, e.g. 'contoso' (not a URL)",
        "server_url": "use organization (Azure DevOps Services) or server_url (Server), not both",
        "pat": "use pat or a service principal (tenant_id, client_id, …), not both",
        "lookup_batch_size": "5000 is out of range: must be between 1 and 1000",
        "vssp_url": "unknown key; did you mean 'vssps_url'?",
    }
    key = problem.split(":", 1)[0].removeprefix("sources[1].")
    assert fragments[key] in problem


def test_entra_problems(tmp_path: Path, secret: dict[str, str]) -> None:
    assert _problems("entra", {"tenant_id": GUID, "client_id": GUID, "client_secret": secret}, tmp_path) == []
    assert _problems(
        "entra", {"tenant_id": "common", "client_id": GUID, "client_secret": secret}, tmp_path
    ) == ["sources[1].tenant_id: 'common' is not a tenant; write the tenant id (a GUID) or domain"]
    assert _problems("entra", {"tenant_id": GUID, "client_id": GUID}, tmp_path) == [
        "sources[1].client_secret: exactly one of client_secret, certificate or pfx is required"
    ]
    two = {"tenant_id": GUID, "client_id": GUID, "client_secret": secret, "certificate": secret}
    assert _problems("entra", two, tmp_path) == [
        "sources[1].certificate: use only one of client_secret, certificate or pfx"
    ]
    bad_thumb = {"tenant_id": GUID, "client_id": GUID, "certificate": secret, "thumbprint": "abc"}
    assert _problems("entra", bad_thumb, tmp_path) == [
        "sources[1].thumbprint: expected the certificate's SHA-1 thumbprint: 40 hex digits"
    ]
    assert _problems("entra", {"client_secret": secret}, tmp_path) == [
        "sources[1].tenant_id: required for a service principal (the Entra tenant id or domain)",
        "sources[1].client_id: required for a service principal (the application (client) id)",
    ]
    insecure = {"tenant_id": GUID, "client_id": GUID, "client_secret": secret, "graph_url": "http://graph"}
    assert _problems("entra", insecure, tmp_path) == [
        "sources[1].graph_url: 'http://graph' is not a URL (https://…)"
    ]


def test_a_world_readable_pfx_is_refused(tmp_path: Path) -> None:
    pfx = tmp_path / "sp.pfx"
    pfx.write_bytes(b"not really a pfx")
    pfx.chmod(0o644)
    problems = _problems("entra", {"tenant_id": GUID, "client_id": GUID, "pfx": str(pfx)}, tmp_path)
    assert len(problems) == 1
    assert "is readable by group or others (mode 0644); run: chmod 600" in problems[0]


def test_entra_graph_scope_follows_graph_url(tmp_path: Path, secret: dict[str, str]) -> None:
    problems: list[str] = []
    table = {
        "tenant_id": GUID,
        "client_id": GUID,
        "client_secret": secret,
        "graph_url": "https://graph.microsoft.us",
    }
    settings = source_type("entra").parse(Section(table, "s", tmp_path / "c.toml", problems), "aad")
    assert problems == []
    assert settings.graph_scope == "https://graph.microsoft.us/.default"  # type: ignore[attr-defined]
