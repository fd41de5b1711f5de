"""Every syncd name the unit suite uses that room `core` (issue 17) is moving, imported in this one place.

Today these live in syncd.cycle, syncd.config, syncd.reconcile and syncd.state; the floor plan
(docs/architecture.md) moves them to syncd.guards, syncd.apply_loop and syncd.models. When that lands, only
this file changes: the tests import from here, never from the old homes. Its body then becomes:

    from syncd.cycle import Cycle, CycleRequest, CycleResult, settle_interrupted
    from syncd.guards import check_guards, held_problems, judge_health, unhealthy_groups
    from syncd.models import GroupBaseline, Owned, Policy, Rule, rule_identity

Two adapters stand in for the new signatures until then: the floor plan's guards take `Policy`, the rules
and the role ranking, not `Config`, and the tests call them that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
from syncd.cycle import _unhealthy as _unhealthy_of_config
from syncd.cycle import check_guards as _check_guards_of_config
from syncd.models import GroupRead, Plan
from syncd.reconcile import Owned, UnhealthyGroup
from syncd.state import GroupBaseline


@dataclass(frozen=True)
class _ConfigPart:
    """What today's guards read of a Config: the policy, the rules and the ranking, nothing else."""

    policy: Policy
    rules: tuple[Rule, ...] = ()
    rank: Callable[[str], int] = len


def check_guards(policy: Policy, plan: Plan, removed_in_window: int = 0) -> str | None:
    return _check_guards_of_config(_ConfigPart(policy), plan, removed_in_window)  # type: ignore[arg-type]


def unhealthy_groups(
    rules: Iterable[Rule], reads: Mapping[tuple[str, str], GroupRead], rank: Callable[[str], int]
) -> list[UnhealthyGroup]:
    part = _ConfigPart(Policy(), tuple(rules), rank)
    return _unhealthy_of_config(part, reads)  # type: ignore[arg-type]


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
    "unhealthy_groups",
]
