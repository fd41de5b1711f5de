"""Issue 15: every key the code accepts is in config.example.toml (set, or commented out with its
explanation). The accepted keys are asked from the parser itself: a probe key in each table makes it list
"allowed here: …", so a key added to the code but not to the example fails this test."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from syncd import config as config_module
from syncd.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
PROBE = "zz_probe_key"

# source and alert variants the example does not set in full: each probed too
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "sources": [
        {
            "name": "srv",
            "type": "azure_devops",
            "server_url": "https://tfs.example/tfs/Coll",
            "pat": {"env": "X"},
        },
        {
            "name": "sp",
            "type": "azure_devops",
            "organization": "o",
            "tenant_id": "t",
            "client_id": "c",
            "certificate": {"env": "X"},
            "certificate_passphrase": {"env": "Y"},
        },
        {"name": "cert", "type": "entra", "tenant_id": "t", "client_id": "c", "certificate": {"env": "X"}},
    ],
    "alerts": [
        {"type": "email", "host": "smtp.example", "from": "a@example.com", "to": ["b@example.com"]},
        {"type": "webhook", "url": {"env": "X"}, "preset": "teams"},
    ],
}


def _allowed(data: dict[str, Any], file: Path) -> set[str]:
    try:
        config_module.parse(data, file, secrets=False)
    except ConfigError as error:
        found: set[str] = set()
        for line in error.lines:
            if PROBE in line and "allowed here: " in line:
                found |= {k.strip() for k in line.rpartition("allowed here: ")[2].rstrip(")").split(",")}
        return found
    raise AssertionError("the probe key was accepted")


def accepted_keys(tmp_path: Path) -> set[str]:
    base = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    (tmp_path / "members.csv").write_text("group,email\n", encoding="utf-8")
    keys: set[str] = set()
    probes: list[dict[str, Any]] = []
    root = copy.deepcopy(base)
    root[PROBE] = 1
    probes.append(root)
    for table, value in base.items():
        if isinstance(value, dict):
            data = copy.deepcopy(base)
            data[table][PROBE] = 1
            probes.append(data)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for index in range(len(value)):
                data = copy.deepcopy(base)
                data[table][index][PROBE] = 1
                probes.append(data)
    for table, variants in VARIANTS.items():
        for variant in variants:
            data = copy.deepcopy(base)
            data.setdefault(table, []).append(variant | {PROBE: 1})
            probes.append(data)
    for data in probes:
        keys |= _allowed(data, tmp_path / "syncd.toml")
    return keys - {"none"}


def example_keys() -> set[str]:
    """Keys set or shown commented out (`# key = …`, also several on a line separated by `;`)."""
    found: set[str] = set()
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("# ").split("#", 1)[0] if not line.startswith("#") else line.lstrip("# ")
        for part in text.split(";"):
            match = re.match(r"\s*([a-z_]+)\s*=", part)
            if match:
                found.add(match.group(1))
        found |= set(re.findall(r"\b([a-z_]+) = ", line))
        found |= set(
            re.findall(r"^#?\s*\[\[?([a-z_]+)(?:\.([a-z_]+))?", line)[0]
            if re.match(r"^#?\s*\[", line)
            else ()
        )
    return found - {""}


def test_every_accepted_key_is_in_the_example(tmp_path: Path) -> None:
    accepted = accepted_keys(tmp_path)
    assert {
        "lookup_batch_size",
        "batch_size",
        "grace",
        "stale_after",
        "preset",
    } <= accepted  # the probe works
    missing = sorted(accepted - example_keys())
    assert missing == [], f"keys the code accepts but config.example.toml does not show: {missing}"


def test_the_example_itself_is_valid(tmp_path: Path) -> None:
    (tmp_path / "members.csv").write_text("group,email\n", encoding="utf-8")
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    config = config_module.parse(data, tmp_path / "syncd.toml", secrets=False)
    assert config.alerts and {a.type for a in config.alerts} == {"email", "webhook"}
