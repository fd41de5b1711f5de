"""Every syncd name the unit suite uses that room `core` (issue 17) is moving, imported in this one place.

Today these live in syncd.cycle and syncd.config; the floor plan (docs/architecture.md) moves them to
syncd.guards, syncd.reading, syncd.models and syncd.audit (GroupBaseline stays in syncd.state unless
the pure guards need it from models). When that lands, only this file changes: the
tests import from here, never from the old homes.

`check_guards` is the one shim: the floor plan's guards take `Policy` (not `Config`), so the tests call it
as `check_guards(policy, plan, removed_in_window)` and this adapter feeds today's signature. After the move,
replace the adapter with `from syncd.guards import check_guards`.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.config import Policy, Rule, rule_identity
from syncd.cycle import (
    Cycle,
    CycleRequest,
    CycleResult,
    held_problems,
    judge_health,
    settle_interrupted,
)
from syncd.cycle import check_guards as _check_guards_of_config
from syncd.models import Plan
from syncd.reconcile import Owned
from syncd.state import GroupBaseline


@dataclass(frozen=True)
class _PolicyOnly:
    """What today's check_guards reads of a Config: its policy, nothing else."""

    policy: Policy


def check_guards(policy: Policy, plan: Plan, removed_in_window: int = 0) -> str | None:
    return _check_guards_of_config(_PolicyOnly(policy), plan, removed_in_window)  # type: ignore[arg-type]


__all__ = [
    "Cycle",
    "CycleRequest",
    "CycleResult",
    "GroupBaseline",
    "Owned",
    "Policy",
    "Rule",
    "check_guards",
    "held_problems",
    "judge_health",
    "rule_identity",
    "settle_interrupted",
]
