"""`[identity]`: domain aliases and the match order, and their one-line errors (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import config as config_module
from syncd.errors import ConfigError
from tests.support.configs import CLOUD_TARGET, USERS_ARE_TEAM

BASE = CLOUD_TARGET + "\n" + USERS_ARE_TEAM + "\n"


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, identity: str) -> config_module.Config:
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "sentinel")
    (tmp_path / "members.csv").write_text("group,email\n", encoding="utf-8")
    path = tmp_path / "syncd.toml"
    path.write_text(BASE + identity, encoding="utf-8")
    return config_module.load(path)


def test_identity_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(
        tmp_path,
        monkeypatch,
        '[identity]\nmatch = ["upn", "mail"]\n[identity.domain_aliases]\n'
        '"Contoso.OnMicrosoft.com" = "contoso.com"\nCORP = "corp.contoso.com"\n',
    )
    assert config.identity.match == ("upn", "mail")
    assert config.identity.domain_aliases.canonical("ann@contoso.onmicrosoft.com") == "ann@contoso.com"
    assert config.identity.domain_aliases.canonical("corp\\alee") == "alee@corp.contoso.com"
    default = load(tmp_path, monkeypatch, "")
    assert default.identity.match == () and not default.identity.domain_aliases


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        (
            '[identity]\nmatch = ["upn", "email"]\n',
            "identity.match[1]: 'email' is not one of: mail, upn, proxy_addresses",
        ),
        ('[identity]\nmatch = "upn"\n', "identity.match: expected an array of strings, got a string 'upn'"),
        (
            '[identity.domain_aliases]\n"a.example" = "not a domain"\n',
            "identity.domain_aliases.a.example: 'not a domain' is not a domain name",
        ),
        (
            '[identity.domain_aliases]\n"a.example" = 3\n',
            "identity.domain_aliases.a.example: expected a domain name (the canonical domain this alias stands for), got an integer 3",
        ),
        ("[identity]\nmatchs = []\n", "identity.matchs: unknown key"),
    ],
)
def test_bad_identity_keys_are_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, identity: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, monkeypatch, identity)
    (line,) = caught.value.lines
    assert line.startswith(f"{tmp_path / 'syncd.toml'}: {message}"), line
