"""`syncd check --probe` (issue 14 item 7): the contract report, per dialect of the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncd.emulators.timetracker import Contract
from syncd.targets.timetracker_probe import probe

from .conftest import users

QUOTA_OFF: dict[str, Any] = {"quota_per_second": None, "quota_per_minute": None}
ORDER = ("Administrator", "Budget", "Product", "Team")


def verdicts(report) -> dict[str, str]:
    return {f.item: f.verdict for f in report.findings}


@pytest.mark.parametrize(
    ("contract", "expected"),
    [
        (Contract(), {}),
        (Contract(page_cap=100), {"target read": "fallback"}),
        (
            Contract(count_honoured=False, page_cap=1000),
            {"$count honoured": "fallback"},
        ),
        (
            Contract(page_cap=100, skip_honoured=False),
            {
                "$skip honoured": "refuses",
                "target read": "refuses",
                "identity fields": "refuses",
                "organization users (GET users)": "refuses",
            },
        ),
        (Contract(percent_encoded_names=False), {"%24count (encoded $)": "fallback"}),
        (
            Contract(email_in_rows=False, unique_name_form="domain"),
            {"identity fields": "fallback", "organization users (GET users)": "fallback"},
        ),
        (Contract(role_case="lower"), {"role names": "fallback"}),
        (Contract(users_listing=False), {"organization users (GET users)": "fallback"}),
        (Contract(include_none_roles=False), {}),
    ],
    ids=[
        "documented",
        "pages-100",
        "count-ignored",
        "skip-ignored",
        "percent-24",
        "domain-names",
        "lower-roles",
        "no-get-users",
        "no-include-none",
    ],
)
def test_each_dialect_is_reported_with_its_verdict(
    emulator_factory, target_factory, contract, expected
) -> None:
    emulator = emulator_factory(
        [*users(250, "Team"), *users(5, "None", start=250)], contract=contract, **QUOTA_OFF
    )
    report = probe(target_factory(emulator.base_url), ORDER, auth="Bearer API token")
    found = verdicts(report)
    assert {item: verdict for item, verdict in found.items() if verdict != "ok"} == expected, report.table()
    assert report.refuses == ("refuses" in expected.values())
    assert emulator.count("POST users/roles") == 0  # read-only


def test_the_report_reads_as_a_table_and_as_json(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(3), contract=Contract(role_case="lower"), **QUOTA_OFF)
    report = probe(target_factory(emulator.base_url), ORDER, auth="Bearer API token")
    table = report.table()
    assert table.splitlines()[0] == f"Contract probe of {emulator.base_url}:"
    assert "  FALLBACK role names" in table and "team ×3 (= Team, sent as team)" in table
    body = json.loads(report.json())
    assert body["target"] == emulator.base_url
    assert {
        "item": "api-version",
        "found": "3.2 accepted (also accepted: 3.0-preview, 3.0, 3.1, 3.2-beta)",
        "verdict": "ok",
    } in body["findings"]


def test_probe_write_resends_one_role_by_id_and_changes_nothing(emulator_factory, target_factory) -> None:
    emulator = emulator_factory(users(3, "Budget"), contract=Contract(role_case="upper"), **QUOTA_OFF)
    before = emulator.roles_by_email()
    report = probe(
        target_factory(emulator.base_url),
        ORDER,
        auth="Bearer API token",
        write_email="user000001@contoso.example",
    )
    (write,) = [f for f in report.findings if f.item.startswith("write by id")]
    assert write.verdict == "ok"
    assert write.found.startswith("user000001@contoso.example: BUDGET sent again by id ")
    assert emulator.count("POST users/roles") == 1
    assert emulator.roles_by_email() == before
    missing = probe(target_factory(emulator.base_url), ORDER, auth="x", write_email="nobody@contoso.example")
    assert missing.refuses and emulator.count("POST users/roles") == 1
