"""Issue 21's rules, one by one, with plain data: the plan seal, grace under a distrusted or future clock,
bounded audit retention, the target a state belongs to, the removal budget across runs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from syncd import audit, plan_file
from syncd.errors import PlanRefused
from syncd.guards import check_guards
from syncd.identity import EmailKey
from syncd.models import NONE_ROLE, Action, Change, LicensedUser, Owned, Plan, Policy, Reason
from syncd.reconcile import PlanInputs, reconcile
from syncd.secrets import Secret
from syncd.target_identity import binding, folder_name

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANN = EmailKey("ann@example.com")


def rank(role: str) -> int:
    return {"None": 0, "Team": 1, "Administrator": 2}.get(role, 3)


# -- the seal -------------------------------------------------------------------------------------------------


def saved(tmp_path: Path, key: Secret | None = None) -> tuple[Path, dict[str, Any]]:
    change = Change(ANN, "ann@example.com", Action.ASSIGN, "None", "Team", Reason("r", "rules[0]", "hr", "g"))
    plan = Plan(changes=(change,), seats_before=0, seats_after=1)
    path = tmp_path / "plan.json"
    plan_file.save(path, plan_file.SavedPlan(plan, "f" * 64, NOW, "syncd.toml"), key)
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_the_seal_names_every_field_that_was_edited(tmp_path: Path) -> None:
    path, data = saved(tmp_path)
    assert plan_file.load(path, NOW).plan.changes[0].key == ANN
    data["changes"][0]["after"] = "Administrator"
    data["created"] = (NOW + timedelta(minutes=1)).isoformat()
    data["extra"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanRefused, match=r"\(changes, created, extra do\(es\) not match its seal\)"):
        plan_file.load(path, NOW)


def test_a_removed_seal_or_a_signature_without_its_key_is_refused(tmp_path: Path) -> None:
    path, data = saved(tmp_path, Secret("k1"))
    with pytest.raises(PlanRefused, match="signing_key is not configured"):
        plan_file.load(path, NOW)
    with pytest.raises(PlanRefused, match="signature does not match"):
        plan_file.load(path, NOW, Secret("k2"))
    assert plan_file.load(path, NOW, Secret("k1")).fingerprint == "f" * 64
    del data["seal"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanRefused, match="plan is not sealed"):
        plan_file.load(path, NOW, Secret("k1"))


# -- grace and the clock ----------------------------------------------------------------------------------------


def leaver(**changes: Any) -> PlanInputs:
    base = PlanInputs(
        desired={},
        licensed={ANN: LicensedUser(ANN, "ann@example.com", "Team")},
        owned={ANN: Owned("Team", "hr:g→Team", NOW - timedelta(days=9))},
        absent_since={},
        waiting_since={},
        unhealthy=(),
        policy=Policy(grace=timedelta(hours=24)),
        rank=rank,
        now=NOW,
    )
    return replace(base, **changes)


def test_a_distrusted_clock_neither_starts_nor_ends_grace() -> None:
    fresh = reconcile(leaver(clock_suspect="the clock went back"))
    assert fresh.plan.changes == () and fresh.absent_since == {}
    assert [(h.cause, h.due) for h in fresh.plan.held] == [("clock", None)]
    expired = reconcile(leaver(clock_suspect="x", absent_since={ANN: NOW - timedelta(days=3)}))
    assert expired.plan.changes == () and expired.absent_since == {ANN: NOW - timedelta(days=3)}
    assert reconcile(leaver(absent_since={ANN: NOW - timedelta(days=3)})).plan.count(Action.UNASSIGN) == 1


def test_a_grace_start_in_the_future_restarts_now() -> None:
    ahead = reconcile(leaver(absent_since={ANN: NOW + timedelta(days=365)}))
    assert ahead.absent_since == {ANN: NOW}
    assert ahead.plan.held[0].due == NOW + timedelta(hours=24)


def test_a_seat_given_back_by_someone_else_is_held() -> None:
    done = reconcile(
        leaver(owned={}, policy=Policy(grace=timedelta(0), unmanaged="remove"), regranted={ANN: NOW})
    )
    assert done.plan.changes == () and [h.cause for h in done.plan.held] == ["re-granted"]
    assert "given back outside syncd" in done.plan.notes[0]


# -- retention --------------------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_file_and_deletes_at_most_a_tenth(tmp_path: Path) -> None:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(30)]
    for day in days:
        audit.audit_file(tmp_path, day).write_text("{}\n")
    far_future = date(2099, 1, 1)
    removed = audit.prune(tmp_path, 400, far_future)
    assert sorted(p.name for p in removed) == [f"audit-{d.isoformat()}.jsonl" for d in days[:3]]
    for _ in range(40):  # a backlog is worked off over later runs
        audit.prune(tmp_path, 400, far_future)
    assert [p.name for p in tmp_path.glob("audit-*.jsonl")] == [f"audit-{days[-1].isoformat()}.jsonl"]


def test_a_torn_last_line_is_ended_once(tmp_path: Path) -> None:
    path = tmp_path / "audit-2026-01-01.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b":')
    assert audit.repair_torn_line(path) and not audit.repair_torn_line(path)
    assert path.read_bytes() == b'{"a": 1}\n{"b":\n'


# -- the target a state belongs to ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "where", "organisation", "folder"),
    [
        ("https://Contoso.timehub.7pace.com", "contoso.timehub.7pace.com", "contoso",
         "timetracker-contoso.timehub.7pace.com"),
        ("https://tt.corp.example:8090/api/DefaultCollection/rest/", "tt.corp.example/api/defaultcollection",
         "defaultcollection", "timetracker-tt.corp.example-api-defaultcollection"),
        ("http://127.0.0.1:5000/api/Org2", "127.0.0.1/api/org2", "org2", "timetracker-127.0.0.1-api-org2"),
    ],
)  # fmt: skip
def test_a_target_is_its_host_path_and_organisation(
    url: str, where: str, organisation: str, folder: str
) -> None:
    settings: Any = SimpleNamespace(type="timetracker", url=url)
    assert binding(settings) == {"type": "timetracker", "url": where, "organisation": organisation}
    assert folder_name(settings) == folder


# -- the removal budget across runs -----------------------------------------------------------------------------


def test_the_removals_of_earlier_runs_in_the_window_count() -> None:
    removal = Change(ANN, "ann@example.com", Action.UNASSIGN, "Team", NONE_ROLE, Reason("gone"))
    config: Any = SimpleNamespace(policy=Policy(max_removals=100))
    first = Plan(changes=(removal,) * 7, seats_before=92, seats_after=85)
    assert check_guards(config.policy, first, removed_in_window=8) is None  # 15 of 100
    later = Plan(changes=(removal,) * 7, seats_before=80, seats_after=73)  # 7 of 80: under 10 % alone
    stopped = check_guards(config.policy, later, removed_in_window=20)  # 27 of 100 > 25 %
    assert stopped is not None and "27 seat removals within policy.removal_window = 7d" in stopped
    off: Any = SimpleNamespace(policy=Policy(max_removals=100, removal_window=timedelta(0)))
    assert check_guards(off.policy, later, removed_in_window=90) is None
