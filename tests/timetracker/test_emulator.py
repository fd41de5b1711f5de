"""The 7pace Timetracker emulator's contract, over real HTTP (apis.md §1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from syncd.emulators.faults import Fault, Faults
from syncd.emulators.timetracker import Contract, EmulatedUser, TimetrackerEmulator, load_users

from .conftest import TOKEN, users

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def get(emulator: TimetrackerEmulator, endpoint: str, **params: Any) -> requests.Response:
    query = {"api-version": "3.2", **params}
    return requests.get(f"{emulator.base_url}/api/rest/{endpoint}", params=query, headers=AUTH, timeout=5)


def post(
    emulator: TimetrackerEmulator, entries: list[Any], *, skip_errors: bool | None = True
) -> requests.Response:
    body: dict[str, Any] = {"users": entries}
    if skip_errors is not None:
        body["skipErrors"] = skip_errors
    return requests.post(
        f"{emulator.base_url}/api/rest/users/roles",
        params={"api-version": "3.2"},
        headers=AUTH,
        json=body,
        timeout=5,
    )


def entry(email: str, role: str) -> dict[str, Any]:
    return {"email": email, "role": {"name": role}}


@pytest.fixture
def emulator(emulator_factory) -> TimetrackerEmulator:
    people = [
        *users(3, "Team"),
        *users(2, "None", start=3),
        EmulatedUser("boss@contoso.example", "Administrator"),
    ]
    return emulator_factory(people, quota_per_second=None, quota_per_minute=None)


def test_users_roles_lists_licensed_users_in_a_data_envelope(emulator) -> None:
    response = get(emulator, "users/roles")
    assert response.status_code == 200
    rows = response.json()["data"]
    assert [(r["email"], r["role"]["name"]) for r in rows] == [
        ("user000000@contoso.example", "Team"),
        ("user000001@contoso.example", "Team"),
        ("user000002@contoso.example", "Team"),
        ("boss@contoso.example", "Administrator"),
    ]
    assert set(rows[0]) == {"id", "vstsId", "uniqueName", "email", "name", "displayName", "role"}
    assert set(rows[0]["role"]) == {"id", "name"}


def test_include_none_roles_count_and_skip(emulator) -> None:
    rows = get(emulator, "users/roles", includeNoneRoles="true", **{"$count": 2, "$skip": 3}).json()["data"]
    assert [(r["email"], r["role"]["name"]) for r in rows] == [
        ("user000003@contoso.example", "None"),
        ("user000004@contoso.example", "None"),
    ]
    assert get(emulator, "users/roles", **{"$skip": 4}).json()["data"] == []


def test_count_above_500_is_refused_or_clamped(emulator_factory) -> None:
    strict = emulator_factory(users(600), quota_per_second=None, quota_per_minute=None)
    response = get(strict, "users/roles", **{"$count": 501})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The maximum value for the $count parameter is 500"
    lenient = emulator_factory(
        users(600), quota_per_second=None, quota_per_minute=None, contract=Contract(count_over_max="clamp")
    )
    assert len(get(lenient, "users/roles", **{"$count": 501}).json()["data"]) == 500


def test_users_lists_everyone_without_roles(emulator) -> None:
    rows = get(emulator, "users").json()["data"]
    assert len(rows) == 6
    assert "role" not in rows[0]


def test_nested_rows_and_bare_role_names_are_switchable(emulator_factory) -> None:
    emulator = emulator_factory(
        users(1), quota_per_second=None, contract=Contract(row_shape="nested", role_format="name")
    )
    (row,) = get(emulator, "users/roles").json()["data"]
    assert row["user"]["email"] == "user000000@contoso.example"
    assert row["role"] == "Team"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Unauthorized"),
        ({"Authorization": "Bearer wrong"}, 401, "Unauthorized"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "Unauthorized"),
        ({"Authorization": "Bearer reader"}, 403, "Access denied. Not enough rights"),
    ],
)
def test_bearer_token_is_checked(emulator_factory, headers, status, message) -> None:
    emulator = emulator_factory(users(1), non_admin_tokens=["reader"])
    response = requests.get(
        f"{emulator.base_url}/api/rest/users/roles", params={"api-version": "3.2"}, headers=headers, timeout=5
    )
    assert response.status_code == status
    assert response.json() == {"error": {"message": message}}


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (None, "The api-version query parameter is required"),
        ("9.9", "The requested api-version '9.9' is not supported"),
    ],
)
def test_api_version_is_required_and_checked(emulator, version, message) -> None:
    params = {"api-version": version} if version else {}
    response = requests.get(
        f"{emulator.base_url}/api/rest/users/roles", params=params, headers=AUTH, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_onprem_paths_and_case_insensitive_routing(emulator) -> None:
    url = f"{emulator.onprem_url('DefaultCollection')}/rest/Users/Roles"
    response = requests.get(url, params={"api-version": "3.0-preview"}, headers=AUTH, timeout=5)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 4
    assert emulator.requests[-1].path == "/api/DefaultCollection/rest/Users/Roles"
    assert emulator.requests[-1].kind == "GET users/roles"
    unknown = requests.get(
        f"{emulator.base_url}/api/rest/workLogs", params={"api-version": "3.2"}, headers=AUTH
    )
    assert unknown.status_code == 404


def test_post_sets_roles_and_reports_failed_entries(emulator) -> None:
    boss_id = get(emulator, "users/roles").json()["data"][3]["id"]
    team_id = get(emulator, "users/roles").json()["data"][0]["role"]["id"]
    entries = [
        entry("user000003@contoso.example", "team"),  # assign (role names are case-insensitive)
        entry("USER000000@contoso.example", "Budget"),  # change
        entry("user000001@contoso.example", "None"),  # unassign
        {"id": boss_id, "role": {"name": "Product"}},  # by 7pace id
        {"email": "user000004@contoso.example", "role": {"id": team_id}},  # role by id
        entry("stranger@contoso.example", "Team"),
        entry("user000002@contoso.example", "Manager"),
        {"email": "user000002@contoso.example", "id": boss_id, "role": {"name": "Team"}},
        {"email": "user000002@contoso.example", "role": {"name": "Team", "id": team_id}},
        entry("not-an-address", "Team"),
    ]
    response = post(emulator, entries)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["succeeded"], data["failed"]) == (5, 5)
    assert [(f["entity"], f["error"]["message"]) for f in data["failedEntries"]] == [
        (entries[5], "User with email 'stranger@contoso.example' is not found in the organization"),
        (entries[6], "Role 'Manager' does not exist"),
        (entries[7], "User can be specified by id, vstsId or email (only one field at a time)"),
        (entries[8], "Role can be specified by id or name (only one field at a time)"),
        (entries[9], "Email 'not-an-address' is not valid"),
    ]
    assert emulator.roles_by_email() == {
        "user000000@contoso.example": "Budget",
        "user000002@contoso.example": "Team",
        "user000003@contoso.example": "Team",
        "user000004@contoso.example": "Team",
        "boss@contoso.example": "Product",
    }
    assert emulator.requests[-1].entries == 10


def test_post_without_skip_errors_is_all_or_nothing(emulator) -> None:
    before = emulator.roles_by_email()
    response = post(
        emulator,
        [entry("user000003@contoso.example", "Team"), entry("x@contoso.example", "Team")],
        skip_errors=None,
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "Validation error: User with email 'x@contoso.example' is not found in the organization"
    )
    assert emulator.roles_by_email() == before


def test_post_body_errors(emulator) -> None:
    url = f"{emulator.base_url}/api/rest/users/roles?api-version=3.2"
    assert requests.post(url, data="{", headers=AUTH, timeout=5).status_code == 400
    assert requests.post(url, json={"people": []}, headers=AUTH, timeout=5).status_code == 400
    too_many = post(emulator, [entry("user000000@contoso.example", "Team")] * 501)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["message"] == "Request can not contains more than 500 items."


def test_unknown_emails_can_be_created_instead(emulator_factory) -> None:
    emulator = emulator_factory([], contract=Contract(unknown_email="create"))
    assert post(emulator, [entry("new@contoso.example", "Team")]).json()["data"]["succeeded"] == 1
    assert emulator.roles_by_email() == {"new@contoso.example": "Team"}


def test_seat_cap_rejects_assignments_beyond_users_assignable(emulator_factory) -> None:
    emulator = emulator_factory([*users(2, "Team"), *users(3, "None", start=2)], assignable=3)
    data = post(
        emulator,
        [
            entry("user000002@contoso.example", "Team"),  # third seat: fits
            entry("user000003@contoso.example", "Team"),  # fourth: over the cap
            entry("user000000@contoso.example", "Budget"),  # a change needs no new seat
            entry("user000001@contoso.example", "None"),  # frees one
            entry("user000004@contoso.example", "Team"),  # takes it
        ],
    ).json()["data"]
    assert (data["succeeded"], data["failed"]) == (4, 1)
    assert data["failedEntries"][0]["entity"]["email"] == "user000003@contoso.example"
    assert (
        data["failedEntries"][0]["error"]["message"] == "No free licenses: all 3 assignable users are in use"
    )
    assert emulator.seated == 3


def test_quota_answers_429_with_retry_after_and_rejected_requests_do_not_count(emulator_factory) -> None:
    emulator = emulator_factory(users(1), quota_per_second=3, quota_per_minute=100)
    statuses = [get(emulator, "users/roles").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    last = get(emulator, "users/roles")
    assert last.headers["Retry-After"] == "1"
    assert last.json()["error"]["message"] == "Quota exceeded. (10 per second, 100 per minute)"
    assert emulator.count("GET users/roles", status=429) == 3
    assert emulator.count("GET users/roles", status=200) == 3


def test_quota_without_retry_after_is_switchable(emulator_factory) -> None:
    emulator = emulator_factory(users(1), quota_per_second=1, contract=Contract(retry_after=False))
    get(emulator, "users/roles")
    response = get(emulator, "users/roles")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_faults_are_reproducible_for_a_seed(emulator_factory) -> None:
    def statuses(seed: int) -> list[int]:
        emulator = emulator_factory(
            users(1), quota_per_second=None, faults=Faults(seed=seed, error_ratio=0.3, html_ratio=0.2)
        )
        return [get(emulator, "users").status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert 503 in first and first.count(200) > 0
    assert first != statuses(8)


def test_fault_kinds_over_the_wire(emulator_factory) -> None:
    script = {1: Fault.ERROR, 2: Fault.RESET, 3: Fault.MALFORMED, 4: Fault.HTML, 5: Fault.THROTTLE}
    emulator = emulator_factory(
        users(2), quota_per_second=None, faults=Faults(script=script, retry_after=2.5)
    )
    error = get(emulator, "users/roles")
    assert (error.status_code, error.json()) == (503, {"error": {"message": "Injected fault: HTTP 503"}})
    with pytest.raises(requests.exceptions.ConnectionError):
        get(emulator, "users/roles")
    malformed = get(emulator, "users/roles")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)
    html = get(emulator, "users/roles")
    assert (html.status_code, html.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    throttled = get(emulator, "users/roles")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert get(emulator, "users/roles").status_code == 200
    assert [r.status for r in emulator.requests] == [503, 0, 200, 200, 429, 200]
    assert [r.fault for r in emulator.requests] == ["error", "reset", "malformed", "html", "throttle", ""]


def test_reset_after_applies_the_change_and_fail_after_scopes_to_methods(emulator_factory) -> None:
    emulator = emulator_factory(
        users(2, "None"),
        quota_per_second=None,
        faults=Faults(fail_after=1, outage=Fault.RESET_AFTER, methods=frozenset({"POST"})),
    )
    assert post(emulator, [entry("user000000@contoso.example", "Team")]).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        post(emulator, [entry("user000001@contoso.example", "Team")])
    assert get(emulator, "users/roles").status_code == 200  # GETs are out of scope
    assert emulator.roles_by_email() == {
        "user000000@contoso.example": "Team",
        "user000001@contoso.example": "Team",
    }
    emulator.set_faults(Faults())
    assert post(emulator, [entry("user000001@contoso.example", "Budget")]).status_code == 200


def test_faults_parse_from_command_line_specs() -> None:
    faults = Faults.parse(
        [
            "error_ratio=0.25",
            "seed=3",
            "fail_after=10",
            "outage=reset",
            "methods=post,get",
            "script=2:throttle;4:html",
        ]
    )
    assert faults == Faults(
        seed=3,
        error_ratio=0.25,
        fail_after=10,
        outage=Fault.RESET,
        methods=frozenset({"POST", "GET"}),
        script={2: Fault.THROTTLE, 4: Fault.HTML},
    )
    with pytest.raises(ValueError, match="expected NAME=VALUE"):
        Faults.parse(["eror_ratio=1"])
    with pytest.raises(ValueError, match="must be between 0 and 1"):
        Faults(error_ratio=2)


def test_runtime_user_helpers(emulator) -> None:
    emulator.add_user(EmulatedUser("late@contoso.example", "Team"))
    emulator.set_role("user000000@contoso.example", "budget")
    assert emulator.remove_user("boss@contoso.example") is True
    assert emulator.remove_user("boss@contoso.example") is False
    assert emulator.roles_by_email() == {
        "user000000@contoso.example": "Budget",
        "user000001@contoso.example": "Team",
        "user000002@contoso.example": "Team",
        "late@contoso.example": "Team",
    }
    assert emulator.seated == 4
    assert len(get(emulator, "users/roles").json()["data"]) == 4
    with pytest.raises(ValueError, match="unknown role 'Boss'"):
        emulator.add_user(EmulatedUser("x@contoso.example", "Boss"))


def test_load_users_from_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        "\ufeffemail,role,display_name\r\nann@contoso.example,Team,Ann Lee\r\nbob@contoso.example,None\r\n"
    )
    assert load_users(csv_file) == [
        EmulatedUser("ann@contoso.example", "Team", "Ann Lee"),
        EmulatedUser("bob@contoso.example", "None", ""),
    ]
    json_file = tmp_path / "users.json"
    json_file.write_text(json.dumps([{"email": "c@contoso.example", "role": "Budget"}, "d@contoso.example"]))
    assert load_users(json_file) == [
        EmulatedUser("c@contoso.example", "Budget"),
        EmulatedUser("d@contoso.example", "Team"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("ann@contoso.example\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: expected email,role"):
        load_users(bad)


def test_standalone_runs_prints_its_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    users_file = tmp_path / "users.csv"
    users_file.write_text("ann@contoso.example,Team\nbob@contoso.example,None\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd.emulators.timetracker",
            "--port",
            "0",
            "--users",
            str(users_file),
            "--token",
            "t0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "(2 users, 1 licensed)" in line
        url = line.split(" listening on ")[1].split(" ")[0]
        response = requests.get(
            f"{url}/api/rest/users/roles",
            params={"api-version": "3.2"},
            headers={"Authorization": "Bearer t0"},
            timeout=5,
        )
        assert [r["email"] for r in response.json()["data"]] == ["ann@contoso.example"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read().strip() == "stopped after 1 requests"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
