"""Plans as JSON: `plan --format json`, `plan --out FILE`, the refused plan a guard saves, and `apply --plan`.

A saved plan carries a fingerprint of the inputs it was computed from (config bytes, desired roles, the
target's roles) and its creation time, so `apply --plan` can refuse a plan the world has moved away from.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncd.errors import PlanRefused, UsageError
from syncd.identity import EmailKey
from syncd.models import Action, Ambiguous, Change, GroupStatus, Health, Held, Plan, Reason, Renamed

PLAN_FORMAT = 1
MAX_PLAN_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    fingerprint: str
    created: datetime
    config: str
    cost: Mapping[str, Any] | None = None


def fingerprint(config_digest: str, desired: Mapping[str, str], licensed: Mapping[str, str]) -> str:
    """A digest of what the plan was computed from; equal fingerprints mean nothing has drifted."""
    digest = hashlib.sha256(config_digest.encode())
    for label, mapping in (("desired", desired), ("licensed", licensed)):
        digest.update(f"\0{label}".encode())
        for key in sorted(mapping):
            digest.update(f"\0{key}\0{mapping[key]}".encode())
    return digest.hexdigest()


def change_to_dict(change: Change) -> dict[str, Any]:
    reason = change.reason
    return {
        "email": change.email,
        "key": change.key,
        "action": change.action.value,
        "before": change.before,
        "after": change.after,
        "reason": reason.text,
        "rule": reason.rule,
        "source": reason.source,
        "group": reason.group,
        "via": list(reason.via),
        "target_id": change.target_id,
        "identifiers": list(change.identifiers),
        "person_id": change.person_id,
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "seats": {"before": plan.seats_before, "after": plan.seats_after, "limit": plan.seat_limit},
        "counts": {a.value: plan.count(a) for a in Action}
        | {"held": len(plan.held), "blocked": len(plan.blocked), "protected": len(plan.protected)}
        | {"renamed": len(plan.renamed), "ambiguous": len(plan.ambiguous)},
        "changes": [change_to_dict(c) for c in plan.changes],
        "held": [
            change_to_dict(h.change)
            | {"why": h.why, "cause": h.cause, "due": h.due.isoformat() if h.due else None}
            for h in plan.held
        ],
        "blocked": [change_to_dict(c) for c in plan.blocked],
        "protected": [change_to_dict(c) for c in plan.protected],
        "groups": [
            {
                "source": g.source,
                "group": g.group,
                "health": g.health.value,
                "members": g.members,
                "detail": g.detail,
            }
            for g in plan.groups
        ],
        "unidentified": plan.unidentified,
        "notes": list(plan.notes),
        "renamed": [
            {
                "key": r.key,
                "before": r.before,
                "display_name": r.display_name,
                "how": r.how,
                "target_id": r.target_id,
                "person_id": r.person_id,
            }
            for r in plan.renamed
        ],
        "ambiguous": [
            {"people": list(a.people), "rows": list(a.rows), "seats": a.seats, "why": a.why}
            for a in plan.ambiguous
        ],
    }


def change_from_dict(item: Any, where: str) -> Change:
    try:
        return Change(
            key=EmailKey(str(item["key"])),
            email=str(item["email"]),
            action=Action(item["action"]),
            before=str(item["before"]),
            after=str(item["after"]),
            reason=Reason(
                str(item["reason"]),
                str(item.get("rule", "")),
                str(item.get("source", "")),
                str(item.get("group", "")),
                tuple(item.get("via", ())),
            ),
            target_id=str(item.get("target_id", "")),
            identifiers=tuple(str(i) for i in item.get("identifiers", ())),
            person_id=str(item.get("person_id", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"{where}: not a syncd plan change ({error})") from None


def plan_from_dict(data: Mapping[str, Any], where: str) -> Plan:
    try:
        seats = data["seats"]
        held = tuple(
            Held(
                change_from_dict(h, where),
                str(h.get("why", "")),
                datetime.fromisoformat(h["due"]) if h.get("due") else None,
                str(h.get("cause", "")),
            )
            for h in data.get("held", [])
        )
        return Plan(
            changes=tuple(change_from_dict(c, where) for c in data["changes"]),
            seats_before=int(seats["before"]),
            seats_after=int(seats["after"]),
            held=held,
            blocked=tuple(change_from_dict(c, where) for c in data.get("blocked", [])),
            protected=tuple(change_from_dict(c, where) for c in data.get("protected", [])),
            groups=tuple(
                GroupStatus(
                    g["source"], g["group"], Health(g["health"]), int(g["members"]), g.get("detail", "")
                )
                for g in data.get("groups", [])
            ),
            unidentified=int(data.get("unidentified", 0)),
            seat_limit=seats.get("limit"),
            notes=tuple(data.get("notes", ())),
            renamed=tuple(
                Renamed(
                    EmailKey(str(r["key"])),
                    EmailKey(str(r["before"])),
                    str(r.get("display_name", "")),
                    str(r.get("how", "")),
                    str(r.get("target_id", "")),
                    str(r.get("person_id", "")),
                )
                for r in data.get("renamed", [])
            ),
            ambiguous=tuple(
                Ambiguous(
                    tuple(map(str, a["people"])), tuple(map(str, a["rows"])), int(a["seats"]), str(a["why"])
                )
                for a in data.get("ambiguous", [])
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(f"{where}: not a syncd plan ({error})") from None


def saved_plan_to_dict(saved: SavedPlan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "syncd_plan": PLAN_FORMAT,
        "created": saved.created.astimezone(UTC).isoformat(timespec="seconds"),
        "fingerprint": saved.fingerprint,
        "config": saved.config,
    }
    body |= plan_to_dict(saved.plan)
    if saved.cost is not None:
        body["cost"] = dict(saved.cost)
    return body


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(path: Path, saved: SavedPlan) -> None:
    write_atomically(path, json.dumps(saved_plan_to_dict(saved), indent=2, ensure_ascii=False) + "\n")


def load(path: Path, now: datetime) -> SavedPlan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: plan file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read plan file: {error}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not a syncd plan (invalid JSON: {error.msg})") from None
    if not isinstance(data, dict) or data.get("syncd_plan") != PLAN_FORMAT:
        raise UsageError(f"{path}: not a syncd plan file (make one with `syncd plan --out FILE`)")
    try:
        created = datetime.fromisoformat(str(data["created"]))
        fp = str(data["fingerprint"])
    except (KeyError, ValueError) as error:
        raise UsageError(f"{path}: not a syncd plan ({error})") from None
    age = now - created
    if age > MAX_PLAN_AGE:
        hours = age.total_seconds() / 3600
        raise PlanRefused(
            f"{path}: plan is {hours:.0f} h old (limit 24 h); make a new one with `syncd plan --out FILE`"
        )
    if age < -timedelta(minutes=5):
        raise PlanRefused(f"{path}: plan was created in the future ({created.isoformat()}); check the clock")
    return SavedPlan(
        plan_from_dict(data, str(path)), fp, created, str(data.get("config", "")), data.get("cost")
    )
