"""Plans as JSON: `plan --format json`, `plan --out FILE`, the refused plan a guard saves, and `apply --plan`.

A saved plan carries a fingerprint of the inputs it was computed from (config bytes, desired roles, the
target's roles) and its creation time, so `apply --plan` can refuse a plan the world has moved away from.

It is also *sealed* (issue 21): a SHA-256 over the canonical JSON of everything in it (changes, held,
created, fingerprint, ...), plus one digest per top-level field so a refusal can name what was edited. With
`[plan] signing_key` configured the seal is also an HMAC-SHA256 under that key, which lives outside the plan
and the state folder: write access to a saved plan is then not enough to approve a change. A plain seal
catches edits by hand; only the signature stops someone who recomputes it (and the cycle's own re-plan,
which refuses any change the reviewed plan holds that a fresh plan would not make, stops both).
"""

from __future__ import annotations

import hashlib
import hmac
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
from syncd.models import (
    Action,
    Ambiguous,
    Change,
    GroupStatus,
    Health,
    Held,
    LeftAlone,
    Plan,
    Reason,
    Renamed,
    UnusableMember,
    group_status_dict,
)
from syncd.secrets import Secret

PLAN_FORMAT = 1
MAX_PLAN_AGE = timedelta(hours=24)
SEAL = "seal"
SIGNATURE = "signature"


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
            | ({"held_by": {"source": h.source, "group": h.group}} if h.group else {})
            for h in plan.held
        ],
        "blocked": [change_to_dict(c) for c in plan.blocked],
        "protected": [change_to_dict(c) for c in plan.protected],
        "groups": [group_status_dict(g) for g in plan.groups],
        "unidentified": plan.unidentified,
        "unidentified_members": [
            {
                "source": u.source,
                "group": u.group,
                "id": u.source_id,
                "display_name": u.display_name,
                "detail": u.detail,
            }
            for u in plan.unusable
        ],
        "notes": list(plan.notes),
        "unmatched": list(plan.unmatched),
        "left_alone": [
            {
                "email": e.email,
                "key": e.key,
                "role": e.role,
                "wanted": e.wanted,
                "kind": e.kind,
                "why": e.why,
            }
            for e in plan.left_alone
        ],
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
            {
                "people": list(a.people),
                "rows": list(a.rows),
                "seats": a.seats,
                "why": a.why,
                "keys": list(a.keys),
            }
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
                str((h.get("held_by") or {}).get("source", "")),
                str((h.get("held_by") or {}).get("group", "")),
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
            unusable=tuple(
                UnusableMember(
                    u["source"], u["group"], u["id"], u.get("display_name", ""), u.get("detail", "")
                )
                for u in data.get("unidentified_members", [])
            ),
            unmatched=tuple(str(u) for u in data.get("unmatched", ())),
            left_alone=tuple(
                LeftAlone(
                    EmailKey(str(e["key"])),
                    str(e["email"]),
                    str(e["role"]),
                    str(e["wanted"]),
                    str(e["kind"]),
                    str(e["why"]),
                )
                for e in data.get("left_alone", ())
            ),
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
                    tuple(map(str, a["people"])),
                    tuple(map(str, a["rows"])),
                    int(a["seats"]),
                    str(a["why"]),
                    tuple(EmailKey(str(k)) for k in a.get("keys", ())),
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


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _field_digests(body: Mapping[str, Any]) -> dict[str, str]:
    return {name: hashlib.sha256(_canonical(value)).hexdigest() for name, value in body.items()}


def _seal_of(body: Mapping[str, Any]) -> dict[str, Any]:
    # the whole-plan digest is taken over the field digests: one serialisation of a 100,000-change plan,
    # not two, and as binding (SHA-256 over SHA-256s of every field, names included)
    fields = _field_digests(body)
    return {"sha256": hashlib.sha256(_canonical(fields)).hexdigest(), "fields": fields}


def _signature_of(seal: Mapping[str, Any], key: Secret) -> str:
    return hmac.new(key.reveal().encode("utf-8"), _canonical(seal["fields"]), hashlib.sha256).hexdigest()


def sealed(body: Mapping[str, Any], key: Secret | None = None) -> dict[str, Any]:
    """The plan document with its seal (and, given a key, its signature) added."""
    out = dict(body)
    out[SEAL] = seal = _seal_of(body)
    if key is not None:
        out[SIGNATURE] = {"hmac-sha256": _signature_of(seal, key), "key": "plan.signing_key"}
    return out


def verify_seal(data: Mapping[str, Any], path: Path, key: Secret | None) -> None:
    """Refuse (exit 3) a plan whose content is not what was sealed, naming the fields that differ."""
    body = {k: v for k, v in data.items() if k not in (SEAL, SIGNATURE)}
    seal = data.get(SEAL)
    if not isinstance(seal, dict) or not isinstance(seal.get("fields"), dict):
        raise PlanRefused(
            f"{path}: plan is not sealed (made by an older syncd, or the seal was removed); make a new one "
            "with `syncd plan --out FILE`"
        )
    recorded: Mapping[str, Any] = seal["fields"]
    fresh = _seal_of(body)
    differ = sorted(
        name
        for name in set(recorded) | set(fresh["fields"])
        if recorded.get(name) != fresh["fields"].get(name)
    )
    if differ or seal.get("sha256") != fresh["sha256"]:
        named = ", ".join(differ) or "the seal itself"
        raise PlanRefused(
            f"{path}: plan was edited after it was made ({named} do(es) not match its seal); nothing "
            "applied; make and review a new plan with `syncd plan --out FILE`"
        )
    signature = data.get(SIGNATURE)
    if key is None:
        if signature is not None:
            raise PlanRefused(
                f"{path}: plan is signed but [plan] signing_key is not configured here, so the signature "
                "cannot be checked; configure the same signing_key, or make a new plan"
            )
        return
    given = signature.get("hmac-sha256") if isinstance(signature, dict) else None
    if not isinstance(given, str):
        raise PlanRefused(
            f"{path}: plan is not signed, and [plan] signing_key requires a signed plan; make a new one "
            "with `syncd plan --out FILE`"
        )
    if not hmac.compare_digest(given, _signature_of(fresh, key)):
        raise PlanRefused(
            f"{path}: plan signature does not match [plan] signing_key (edited and re-sealed, or signed "
            "with another key); nothing applied"
        )


def save(path: Path, saved: SavedPlan, key: Secret | None = None) -> None:
    document = sealed(saved_plan_to_dict(saved), key)
    write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read_sealed(path: Path, key: Secret | None = None) -> dict[str, Any]:
    """The JSON document at `path`, checked to be a syncd plan (of one target or a set) with a valid seal:
    where loading a plan and loading a plan set both begin."""
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
    verify_seal(data, path, key)
    return data


def created_of(data: Mapping[str, Any], path: Path) -> datetime:
    try:
        return datetime.fromisoformat(str(data["created"]))
    except (KeyError, ValueError) as error:
        raise UsageError(f"{path}: not a syncd plan ({error})") from None


def refuse_stale(created: datetime, path: Path, now: datetime) -> None:
    """PlanRefused when the plan was made over MAX_PLAN_AGE ago, or in the future (a wrong clock)."""
    age = now - created
    if age > MAX_PLAN_AGE:
        hours = age.total_seconds() / 3600
        raise PlanRefused(
            f"{path}: plan is {hours:.0f} h old (limit 24 h); make a new one with `syncd plan --out FILE`"
        )
    if age < -timedelta(minutes=5):
        raise PlanRefused(f"{path}: plan was created in the future ({created.isoformat()}); check the clock")


def load(path: Path, now: datetime, key: Secret | None = None) -> SavedPlan:
    data = read_sealed(path, key)
    created = created_of(data, path)
    try:
        fp = str(data["fingerprint"])
    except KeyError as error:
        raise UsageError(f"{path}: not a syncd plan ({error})") from None
    refuse_stale(created, path, now)
    return SavedPlan(
        plan_from_dict(data, str(path)), fp, created, str(data.get("config", "")), data.get("cost")
    )
