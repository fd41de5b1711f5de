"""Parsing `[target]` for type = "timetracker": defaults, URL forms, and one exact line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.http import HttpOptions
from syncd.secrets import SecretRef
from syncd.targets import target_type
from syncd.targets.timetracker import TimetrackerSettings, api_root, parse_settings

from .conftest import TOKEN_ENV, section

TOKEN_REF = {"env": TOKEN_ENV}
REFS = '{ env = "NAME" }, { file = "path" }, { keyring = "service/user" } or { credential = "name" }'


def parse(data: dict[str, object]) -> tuple[TimetrackerSettings, list[str]]:
    problems: list[str] = []
    return parse_settings(section(data, problems)), problems


def test_defaults_for_a_cloud_tenant(token_env) -> None:
    settings, problems = parse({"url": "https://contoso.timehub.7pace.com/", "token": TOKEN_REF})
    assert problems == []
    assert settings == TimetrackerSettings(
        url="https://contoso.timehub.7pace.com",
        api_root="https://contoso.timehub.7pace.com/api/rest/",
        token=SecretRef("env", TOKEN_ENV, "syncd.toml: target.token"),
        api_version="3.2",
        batch_size=100,
        requests_per_second=10,
        requests_per_minute=100,
        http=HttpOptions(),
        type="timetracker",
    )


def test_every_key_read(token_env, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    settings, problems = parse(
        {
            "url": "http://127.0.0.1:8090/api/DefaultCollection",
            "allow_insecure_http": True,
            "token": TOKEN_REF,
            "api_version": "3.0-preview",
            "batch_size": 500,
            "requests_per_second": 0,
            "requests_per_minute": 0,
            "ca_bundle": str(bundle),
            "proxy": "http://proxy.corp.example:3128",
            "timeout": 12,
        }
    )
    assert problems == []
    assert settings.api_root == "http://127.0.0.1:8090/api/DefaultCollection/rest/"
    assert (settings.api_version, settings.batch_size) == ("3.0-preview", 500)
    assert (settings.requests_per_second, settings.requests_per_minute) == (0, 0)
    assert settings.http == HttpOptions(
        ca_bundle=bundle, proxy="http://proxy.corp.example:3128", timeout=12.0
    )


def test_registered_under_its_type(token_env) -> None:
    problems: list[str] = []
    settings = target_type("timetracker").parse(
        section({"url": "https://x.timehub.7pace.com", "token": TOKEN_REF}, problems)
    )
    assert problems == []
    assert settings.type == "timetracker"


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://contoso.timehub.7pace.com", "https://contoso.timehub.7pace.com/api/rest/"),
        ("https://contoso.timehub.7pace.com/api/rest", "https://contoso.timehub.7pace.com/api/rest/"),
        (
            "https://tt.corp.example:8090/api/DefaultCollection",
            "https://tt.corp.example:8090/api/DefaultCollection/rest/",
        ),
        (
            "https://tt.corp.example:8090/api/Fabrikam/rest/",
            "https://tt.corp.example:8090/api/Fabrikam/rest/",
        ),
        (
            "https://gw.corp.example/7pace/api/DefaultCollection",
            "https://gw.corp.example/7pace/api/DefaultCollection/rest/",
        ),
        ("https://contoso.timehub.7pace.com/foo", None),
        ("https://contoso.timehub.7pace.com/api", None),
        ("https://contoso.timehub.7pace.com/api/a/b/c", None),
        ("https://contoso.timehub.7pace.com/?x=1", None),
    ],
)
def test_api_root_of_each_url_form(url: str, root: str | None) -> None:
    assert api_root(url) == root


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"url": "https://contoso.timehub.7pace.com", "token": TOKEN_REF, "batchsize": 5},
            [
                "syncd.toml: target.batchsize: unknown key; did you mean 'batch_size'? (allowed here: "
                "allow_insecure_http, api_version, auth, batch_size, ca_bundle, password, proxy, "
                "requests_per_minute, requests_per_second, timeout, token, type, url, user)"
            ],
        ),
        (
            {"url": "https://contoso.timehub.7pace.com/foo/bar", "token": TOKEN_REF},
            [
                "syncd.toml: target.url: 'https://contoso.timehub.7pace.com/foo/bar' is not a 7pace "
                "Timetracker URL; use https://<org>.timehub.7pace.com (cloud) or "
                "https://<host>:8090/api/<Collection> (on-prem)"
            ],
        ),
        (
            {"url": "contoso", "token": TOKEN_REF},
            ["syncd.toml: target.url: 'contoso' is not a URL (https://… or http://…)"],
        ),
        (
            {"url": "http://127.0.0.1:8090", "token": TOKEN_REF},
            [
                "syncd.toml: target.url: 'http://127.0.0.1:8090' would send the API token unencrypted; use "
                "https:// (or set allow_insecure_http = true for a local emulator)"
            ],
        ),
        (
            {
                "url": "https://contoso.timehub.7pace.com",
                "token": "tt-literal",
                "batch_size": 0,
                "api_version": "latest",
                "requests_per_second": -1,
                "requests_per_minute": "100",
            },
            [
                f"syncd.toml: target.token: secrets must not be written into the config; use a secret "
                f"reference: {REFS}",
                "syncd.toml: target.api_version: 'latest' is not an api-version such as '3.2' or "
                "'3.0-preview'",
                "syncd.toml: target.batch_size: 0 is out of range: must be between 1 and 500",
                "syncd.toml: target.requests_per_second: -1 is out of range: must be at least 0",
                "syncd.toml: target.requests_per_minute: expected an integer, got a string '100'",
            ],
        ),
        (
            {"url": "https://contoso.timehub.7pace.com", "batch_size": 501},
            [
                f"syncd.toml: target.token: required (a secret reference: {REFS})",
                "syncd.toml: target.batch_size: 501 is out of range: must be between 1 and 500",
            ],
        ),
        (
            {"token": {"env": "SYNCD_TEST_TT_UNSET"}},
            [
                "syncd.toml: target.url: required (a URL (https://… or http://…))",
                "syncd.toml: target.token: environment variable SYNCD_TEST_TT_UNSET is not set",
            ],
        ),
    ],
)
def test_each_mistake_is_one_exact_line(token_env, data, expected) -> None:
    _, problems = parse(data)
    assert problems == expected
    assert all("tt-literal" not in line for line in problems)
