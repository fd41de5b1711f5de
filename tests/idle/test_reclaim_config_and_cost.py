"""`[reclaim]` validation (one line per problem, naming the key) and the idle-seat cost line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from syncd import config as config_module
from syncd.errors import ConfigError
from syncd.idle_cost import idle_summary
from syncd.pricing import Period, Plan, PricingModel, PricingSettings
from tests.support.configs import CLOUD_TARGET, USERS_ARE_TEAM

BASE = CLOUD_TARGET + "\n" + USERS_ARE_TEAM + "\n[reclaim]\n"


def load(tmp_path: Path, body: str) -> config_module.Config:
    (tmp_path / "members.csv").write_text("group,email\nUsers,a@example.com\n", encoding="utf-8")
    path = tmp_path / "syncd.toml"
    path.write_text(BASE + body, encoding="utf-8")
    return config_module.load(path)


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    return [line.split("syncd.toml: ", 1)[1] for line in caught.value.lines]


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "t")
    settings = load(tmp_path, 'idle_for = "60d"\n').reclaim
    assert settings is not None
    assert settings.roles == frozenset({"Team"})  # the lowest role only
    assert settings.min_seat_age == settings.idle_for == timedelta(days=60)
    assert settings.mode == "report" and settings.max_per_run == 25 and settings.warn_before == timedelta(0)
    assert settings.activity_overlap == timedelta(hours=26) and settings.activity_budget == 300


def test_every_problem_is_one_line_naming_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "t")
    assert problems(tmp_path, 'mode = "delete"\n') == [
        "reclaim.idle_for: required (a duration such as '60d': no worklog in that time)",
        "reclaim.mode: 'delete' is not one of: report, reclaim",
    ]
    assert problems(
        tmp_path,
        'idle_for = "12h"\nroles = ["Boss"]\nexempt = ["nobody"]\nmax_per_run = 0\n'
        'regrant_group = { source = "ad", group = "X" }\nwarn_before = "90d"\nidle_fro = 1\n',
    ) == [
        "reclaim.idle_for: must be at least '1d' (time is logged by the day)",
        "reclaim.roles[0]: 'Boss' is not in [roles] order (Administrator, Budget, Product, Team)",
        "reclaim.exempt[0]: 'nobody' is not an e-mail address",
        "reclaim.max_per_run: 0 is out of range: must be at least 1",
        "reclaim.regrant_group.source: no [[sources]] is named 'ad' (defined: hr)",
        "reclaim.idle_fro: unknown key; did you mean 'idle_for'? (allowed here: activity_budget, activity_overlap, devops_source, devops_url, exempt, "
        "exempt_groups, idle_for, max_per_run, min_seat_age, mode, regrant_group, roles, warn_before, warn_channel)",
        "reclaim.warn_before: must be shorter than idle_for (the warning comes before the reclaim)",
    ]


def test_devops_source_must_be_an_azure_devops_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "t")
    assert problems(tmp_path, 'idle_for = "60d"\ndevops_source = "hr"\n') == [
        "reclaim.devops_source: 'hr' is a file source; name a [[sources]] entry with type = \"azure_devops\""
    ]
    assert problems(tmp_path, 'idle_for = "60d"\ndevops_source = "ado"\ndevops_url = "vsaex"\n') == [
        "reclaim.devops_url: 'vsaex' is not a URL (https://… or http://…)",
        "reclaim.devops_source: 'ado' is not defined; name a [[sources]] entry with type = \"azure_devops\"",
    ]


def test_warn_channel_must_name_an_email_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_TOKEN", "t")
    assert problems(tmp_path, 'idle_for = "60d"\nwarn_before = "7d"\nwarn_channel = "ops"\n') == [
        "reclaim.warn_channel: 'ops' is not defined; name an [[alerts]] entry with type = \"email\" (defined: none)"
    ]


def pricing(model: PricingModel, assignable: int | None = 20, plan: Plan | None = None) -> PricingSettings:
    return PricingSettings(
        model=model,
        price_per_seat=Decimal("9.00"),
        period=Period.MONTH,
        renewal=date(2026, 12, 1),
        currency="USD",
        assignable=assignable,
        plan=plan,
    )


def test_cost_lines_under_each_pricing_model() -> None:
    today = date(2026, 11, 15)  # cycle 1-30 Nov: 15 of 30 days left after today
    assert idle_summary(pricing(PricingModel.SEVENPACE), 14, today) == (
        "14 idle seats: USD 126.00 a month; USD 63.00 credit if reclaimed today and assignable users "
        "lowered by 14, 15 of 30 days left"
    )
    # Ultimate cannot go below 20 assignable users: only 1 of the 2 idle seats can be credited
    ultimate = pricing(PricingModel.SEVENPACE, 21, Plan("Ultimate", 20, None))
    assert idle_summary(ultimate, 2, today) == (
        "2 idle seats: USD 18.00 a month; USD 4.50 credit if reclaimed today and assignable users lowered by 2 "
        "(the plan's minimum allows lowering by 1 only), 15 of 30 days left"
    )
    assert idle_summary(pricing(PricingModel.PER_ACTIVE_USER, None), 1, today) == (
        "1 idle seat: USD 9.00 a month; no credit if reclaimed today (per active user): the saving starts "
        "2026-12-01"
    )
    assert idle_summary(None, 3, today) == "3 idle seats (add [pricing] to see what they cost)"
    assert idle_summary(pricing(PricingModel.SEVENPACE), 0, today) == "No idle seats."
