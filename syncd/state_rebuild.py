"""`syncd state rebuild --from-audit`: recover a damaged state database from the audit trail (issue 21).

The audit trail records every change syncd made, with the rule's source, group and role, so the ownership
ledger can be replayed from it: the last successful, non-dry-run change per person says whether syncd holds
their seat and under which rule. Group baselines are re-seeded from the same replay (the number of seats each
group's rule owns), so a group exported empty right after a rebuild is still *suspicious*, never "everyone
left". Grace clocks and seat-cap waiting times are not in the trail; they restart, which only ever delays a
removal. The damaged file is kept beside the new one, never deleted.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.audit import AuditLog
from syncd.audit_query import AuditFilter, events
from syncd.config import Config
from syncd.errors import SyncdError, UsageError
from syncd.identity import EmailKey, normalise_email
from syncd.models import NONE_ROLE, Action, GroupBaseline, Owned, rule_identity
from syncd.runlock import RunLock
from syncd.state import STATE_FILE, State
from syncd.target_identity import binding

_CHANGES = frozenset(a.value for a in Action)


@dataclass(frozen=True)
class Rebuilt:
    owned: int
    events: int
    groups: int
    kept: tuple[Path, ...]  # the damaged files, moved aside


@dataclass(frozen=True, slots=True)
class _Entry:
    owned: Owned
    source: str
    group: str


def replay(
    trail: Iterable[Mapping[str, Any]], target: str | None = None
) -> tuple[dict[EmailKey, _Entry], int]:
    """The ledger the trail implies, and how many change events it was built from. `target` (the audit's
    `syncd.target.url`), when given, skips events recorded for another target."""
    ledger: dict[EmailKey, _Entry] = {}
    used = 0
    for event in trail:
        if event.get("event.action") not in _CHANGES or event.get("event.outcome") != "success":
            continue
        if event.get("syncd.dry_run") is True:
            continue
        recorded_target = event.get("syncd.target.url")
        if target is not None and recorded_target is not None and recorded_target != target:
            continue
        key = normalise_email(str(event.get("user.target.email", "")))
        after = (event.get("user.changes.roles") or [""])[0]
        if key is None or not isinstance(after, str) or not after:
            continue
        used += 1
        if after == NONE_ROLE:
            ledger.pop(key, None)
            continue
        source, group = str(event.get("syncd.source", "")), str(event.get("group.name", ""))
        try:
            since = datetime.fromisoformat(str(event["@timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            since = datetime.now(UTC)
        ledger[key] = _Entry(Owned(after, rule_identity(source, group, after), since), source, group)
    return ledger, used


def rebuild_from_audit(config: Config, now: datetime, *, force: bool = False) -> Rebuilt:
    target = binding(config.target)
    with RunLock(config.state_dir, "state rebuild"):
        if not force and _healthy(config.state_dir):
            raise UsageError(
                f"state database {config.state_dir / STATE_FILE} is not damaged; rebuilding it would forget "
                "grace clocks and adopted seats. Pass --force to rebuild it anyway (the old file is kept)"
            )
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept: list[Path] = []
        for suffix in ("", "-wal", "-shm"):
            path = config.state_dir / f"{STATE_FILE}{suffix}"
            if path.exists():
                aside = path.with_name(f"{path.name}.damaged-{stamp}")
                path.replace(aside)
                kept.append(aside)
        ledger, used = replay(events(config.audit_dir, AuditFilter()), target["url"])
        sizes = Counter((e.source, e.group) for e in ledger.values() if e.source and e.group)
        with State(config.state_dir) as state:
            state.bind_target(target)
            state.record_owned({k: e.owned for k, e in ledger.items()})
            state.record_group_reads({pair: GroupBaseline(size, "", now) for pair, size in sizes.items()})
        done = Rebuilt(len(ledger), used, len(sizes), tuple(kept))
        trail = AuditLog(
            config.audit_dir,
            run_id=uuid.uuid4().hex[:16],
            dry_run=False,
            target=config.target.type,
            clock=lambda: now,
            target_url=target["url"],
        )
        try:
            trail.state_rebuilt(
                f"state rebuilt from the audit trail: {done.owned} seat(s) owned, {done.groups} group "
                f"baseline(s), from {done.events} change event(s)",
                {
                    "syncd.state.owned": done.owned,
                    "syncd.state.groups": done.groups,
                    "syncd.state.kept": [str(p) for p in done.kept],
                },
            )
        finally:
            trail.close()
        return done


def _healthy(state_dir: Path) -> bool:
    if not (state_dir / STATE_FILE).exists():
        return False
    try:
        with State(state_dir):
            return True
    except SyncdError:
        return False


def rebind(config: Config) -> dict[str, str]:
    """Bind the state to the config's target (the target moved: a new URL for the same organisation)."""
    with RunLock(config.state_dir, "state rebind"), State(config.state_dir) as state:
        old = state.target_binding()
        state.bind_target(binding(config.target))
        return old
