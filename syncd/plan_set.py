"""Reviewed plans for several targets (issue 19): one sealed file, bound to the targets it covers.

A config with several targets saves `plan --out FILE` as a *plan set*: the single-target plan of every target
the command covered, each with the target's binding (type, host and path, organisation: what its state is
bound to), under one seal (and signature) exactly as plan_file.py seals a single plan. `apply --plan FILE`
applies it only to the same set of targets (all of them, or the one `--target` names) still bound to the
same organisations; any other set is refused (exit 3), so a plan reviewed for organisation A can never be
applied to organisation B, and a plan reviewed for A alone is not applied to A and B.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.config import Config, for_target
from syncd.errors import PlanRefused, UsageError
from syncd.plan_file import (
    PLAN_FORMAT,
    SavedPlan,
    created_of,
    plan_from_dict,
    read_sealed,
    refuse_stale,
    saved_plan_to_dict,
    sealed,
    write_atomically,
)
from syncd.secrets import Secret
from syncd.target_identity import binding


@dataclass(frozen=True)
class PlanSet:
    plans: Mapping[str, SavedPlan]  # target name → its plan, in config order
    bindings: Mapping[str, Mapping[str, str]]


def document(config: Config, plans: Mapping[str, SavedPlan]) -> dict[str, Any]:
    """The plan set's JSON body (unsealed): `targets` maps each name to its single-target plan and binding."""
    created = min((p.created for p in plans.values()), default=datetime.now(UTC))
    targets: dict[str, Any] = {}
    for name, saved in plans.items():
        body = saved_plan_to_dict(saved)
        body.pop("syncd_plan", None)
        targets[name] = {"binding": binding(for_target(config, name).target)} | body
    return {
        "syncd_plan": PLAN_FORMAT,
        "created": created.astimezone(UTC).isoformat(timespec="seconds"),
        "config": str(config.file),
        "targets": targets,
    }


def render(config: Config, plans: Mapping[str, SavedPlan], key: Secret | None = None) -> str:
    return json.dumps(sealed(document(config, plans), key), indent=2, ensure_ascii=False) + "\n"


def save(path: Path, config: Config, plans: Mapping[str, SavedPlan], key: Secret | None = None) -> None:
    write_atomically(path, render(config, plans, key))


def is_plan_set(path: Path) -> bool:
    """Whether `path` holds a plan set (False for a single-target plan or anything unreadable: the loader of
    that kind then says what is wrong with it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("targets"), dict)


def load(path: Path, now: datetime, key: Secret | None = None) -> PlanSet:
    data = read_sealed(path, key)
    if not isinstance(data.get("targets"), dict):
        raise PlanRefused(
            f"{path}: plan was made for a single-target config, and this config has several targets; make "
            "a new one with `syncd plan --out FILE` (add --target NAME for one target)"
        )
    refuse_stale(created_of(data, path), path, now)
    plans: dict[str, SavedPlan] = {}
    bindings: dict[str, Mapping[str, str]] = {}
    for name, body in data["targets"].items():
        where = f"{path} (target {name})"
        if not isinstance(body, dict):
            raise UsageError(f"{where}: not a syncd plan")
        try:
            plans[name] = SavedPlan(
                plan_from_dict(body, where),
                str(body["fingerprint"]),
                datetime.fromisoformat(str(body["created"])),
                str(data.get("config", "")),
                body.get("cost"),
            )
            bindings[name] = {str(k): str(v) for k, v in dict(body["binding"]).items()}
        except (KeyError, TypeError, ValueError) as error:
            raise UsageError(f"{where}: not a syncd plan ({error})") from None
    return PlanSet(plans, bindings)


def bound_to(plans: PlanSet, config: Config, names: Sequence[str], path: Path) -> Mapping[str, SavedPlan]:
    """Each target's reviewed plan, if the set covers exactly `names`, each still the same organisation."""
    covered = list(plans.plans)
    if sorted(covered) != sorted(names):
        raise PlanRefused(
            f"{path}: plan covers target(s) {', '.join(covered) or 'none'}, but this apply covers "
            f"{', '.join(names)}; nothing applied; apply it with the same --target as the plan was made "
            "with, or make a new one"
        )
    for name in names:
        now_bound = binding(for_target(config, name).target)
        if dict(plans.bindings[name]) != now_bound:
            raise PlanRefused(
                f"{path}: target {name}'s plan was made for {plans.bindings[name].get('url', '?')}, but "
                f"{name} is now {now_bound['url']}; nothing applied; make and review a new plan"
            )
    return plans.plans
