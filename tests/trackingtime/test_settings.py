"""Parsing `[target]` for type = "trackingtime": defaults, one exact line per mistake, the target's identity
(the state is bound to the account), and the roles a TrackingTime config gets without a [roles] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import config as config_module
from syncd.config_section import Section
from syncd.errors import ConfigError
from syncd.target_identity import binding, folder_name
from syncd.targets.trackingtime import DEFAULT_URL, TrackingTimeSettings, parse_settings

from .conftest import PASSWORD_ENV

FILE = Path("syncd.toml")


def parse(data: dict[str, object]) -> tuple[TrackingTimeSettings, list[str]]:
    problems: list[str] = []
    return parse_settings(Section(data, "target", FILE, problems)), problems


def test_defaults(password_env) -> None:
    settings, problems = parse({"account_id": 12345, "app_password": {"env": PASSWORD_ENV}})
    assert problems == []
    assert (settings.api_url, settings.url, settings.username) == (
        DEFAULT_URL,
        f"{DEFAULT_URL}/12345",
        "API_TOKEN",
    )
    assert (settings.page_size, settings.batch_size, settings.requests_per_second) == (200, 20, 3)
    assert settings.token is None and settings.app_password is not None


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"app_password": {"env": PASSWORD_ENV}}, "syncd.toml: target.account_id: required (an integer)"),
        (
            {"account_id": 1},
            "syncd.toml: target.app_password: set exactly one of app_password",
        ),
        (
            {"account_id": 1, "app_password": {"env": PASSWORD_ENV}, "token": {"env": PASSWORD_ENV}},
            "syncd.toml: target.app_password: set exactly one of app_password",
        ),
        (
            {"account_id": 1, "app_password": "hunter2"},
            "syncd.toml: target.app_password: secrets must not be written into the config",
        ),
        (
            {"account_id": 1, "app_password": {"env": PASSWORD_ENV}, "url": "http://tt.example/api/v4"},
            "syncd.toml: target.url: 'http://tt.example/api/v4' would send the app password or token unencrypted",
        ),
        (
            {"account_id": "12345", "app_password": {"env": PASSWORD_ENV}},
            "syncd.toml: target.account_id: expected an integer, got a string '12345'",
        ),
        (
            {"account_id": 1, "app_password": {"env": PASSWORD_ENV}, "page_size": 5000},
            "syncd.toml: target.page_size: 5000 is out of range: must be between 1 and 1000",
        ),
        (
            {"account_id": 1, "app_password": {"env": PASSWORD_ENV}, "acount": 1},
            "syncd.toml: target.acount: unknown key; did you mean 'account_id'?",
        ),
    ],
)
def test_one_line_per_mistake(password_env, data, line) -> None:
    _, problems = parse(data)
    assert any(p.startswith(line) for p in problems), problems
    assert not any("hunter2" in p for p in problems)


def test_identity_is_the_account(password_env) -> None:
    """Two accounts behind the same API host are two targets: their own state folders, bindings apart."""
    one, _ = parse({"account_id": 111, "app_password": {"env": PASSWORD_ENV}})
    two, _ = parse({"account_id": 222, "app_password": {"env": PASSWORD_ENV}})
    assert binding(one) == {
        "type": "trackingtime",
        "url": "api.trackingtime.co/api/v4/111",
        "organisation": "111",
    }
    assert folder_name(one) == "trackingtime-api.trackingtime.co-api-v4-111"
    assert folder_name(one) != folder_name(two)


def _config(tmp_path: Path, roles: str = "") -> dict[str, object]:
    import tomllib

    (tmp_path / "members.csv").write_text("group,email\n", encoding="utf-8")
    text = f"""
[target]
type = "trackingtime"
account_id = 1
app_password = {{ env = "{PASSWORD_ENV}" }}

[[sources]]
name = "hr"
type = "file"
path = "members.csv"

[[rules]]
source = "hr"
group = "Staff"
role = "PROJECT_MANAGER"
{roles}
"""
    return tomllib.loads(text)


def test_roles_default_to_trackingtime_literals(password_env, tmp_path: Path) -> None:
    config = config_module.parse(_config(tmp_path), tmp_path / "syncd.toml")
    assert config.role_order == ("ADMIN", "PROJECT_MANAGER", "CO_WORKER")


def test_a_manager_literal_needs_roles_order(password_env, tmp_path: Path) -> None:
    data = _config(tmp_path)
    data["rules"][0]["role"] = "MANAGER"  # type: ignore[index]
    with pytest.raises(ConfigError, match="'MANAGER' is not one of: ADMIN, PROJECT_MANAGER, CO_WORKER, None"):
        config_module.parse(data, tmp_path / "syncd.toml")
    data["roles"] = {"order": ["ADMIN", "MANAGER", "CO_WORKER"]}
    assert config_module.parse(data, tmp_path / "syncd.toml").role_order == ("ADMIN", "MANAGER", "CO_WORKER")
