"""`syncd status --user NAME` (issue 16): one person, found by any of their identifiers — an address, an old
address from before a rename, a UPN, a `DOMAIN\\user` name, their 7pace id or immutable id.

Shows what the ledger knows (the seat syncd owns for them, its rule and ids), the history of their renames,
their last audited changes and, with `--live`, which of their identifiers match which 7pace row right now
(a read of the sources and the target, nothing written).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd import audit_query
from syncd.config import Config
from syncd.errors import UsageError
from syncd.identity import EmailKey, normalise_identifier
from syncd.models import Owned
from syncd.state import STATE_FILE, State


@dataclass(frozen=True)
class Known:
    """Every key and id the state connects to one name."""

    asked: str
    keys: frozenset[str]  # identifier keys this person had (renames) or has
    current: str  # the key their seat is recorded under today ("" when syncd owns no seat for them)
    owned: Owned | None
    renames: tuple[tuple[str, str, str, datetime], ...]  # (before, after, how, when), oldest first

    @property
    def names(self) -> frozenset[str]:
        ids = {self.owned.target_id, self.owned.person_id} if self.owned is not None else set()
        return self.keys | {normalise_identifier(i) or i for i in ids if i}


def resolve(config: Config, name: str) -> Known:
    key = normalise_identifier(name)
    if key is None:
        raise UsageError(f"--user {name!r} is not an identifier (an address, a UPN, DOMAIN\\user or an id)")
    if not (config.state_dir / STATE_FILE).exists():
        return Known(name, frozenset({key}), "", None, ())
    # a name the ledger does not hold (a UPN, a proxy address) may be in the identifiers of an audited change
    seeds = {key} | _audited_keys(config, key)
    with State(config.state_dir) as state:
        ledger = state.owned_with_ids()
        seeds.update(k for k, o in ledger.items() if key in (_folded(o.target_id), _folded(o.person_id)))
        renames = tuple(state.renames_of(seeds))
    keys = seeds | {k for before, after, _, _ in renames for k in (before, after)}
    current = next((k for k in _newest_first(keys, renames) if k in ledger), "")
    return Known(name, frozenset(keys), current, ledger.get(EmailKey(current)) if current else None, renames)


def _audited_keys(config: Config, key: str) -> set[str]:
    found: set[str] = set()
    for event in audit_query.events(config.audit_dir, audit_query.AuditFilter(user=key, changes_only=True)):
        for field in ("syncd.person.key", "user.target.email"):
            folded = normalise_identifier(str(event.get(field, "")))
            if folded is not None:
                found.add(folded)
                break
    return found


def _folded(text: str) -> str:
    return normalise_identifier(text) or "" if text else ""


def _newest_first(keys: Iterable[str], renames: tuple[tuple[str, str, str, datetime], ...]) -> list[str]:
    order = [after for _, after, _, _ in reversed(renames)]
    return order + sorted(set(keys) - set(order))


def collect_person(config: Config, name: str, *, live: bool) -> dict[str, Any]:
    known = resolve(config, name)
    events = list(
        audit_query.events(
            config.audit_dir,
            audit_query.AuditFilter(
                user=next(iter(sorted(known.names))), also=known.names, changes_only=True
            ),
        )
    )
    owned = known.owned
    data: dict[str, Any] = {
        "asked": name,
        "keys": sorted(known.keys),
        "current": known.current or None,
        "ledger": None
        if owned is None
        else {
            "role": owned.role,
            "rule": owned.rule,
            "since": owned.since.isoformat(),
            "target_id": owned.target_id,
            "vsts_id": owned.vsts_id,
            "person_id": owned.person_id,
        },
        "renames": [
            {"before": b, "after": a, "how": how, "at": at.isoformat()} for b, a, how, at in known.renames
        ],
        "changes": [
            {
                "at": e.get("@timestamp"),
                "action": e.get("event.action"),
                "outcome": e.get("event.outcome"),
                "email": e.get("user.target.email"),
                "roles": [*(e.get("user.target.roles") or []), *(e.get("user.changes.roles") or [])],
                "rule": e.get("syncd.rule"),
                "reason": e.get("event.reason"),
                "identifiers": e.get("syncd.identifiers", []),
            }
            for e in events[-10:]
        ],
    }
    if live:
        data["live"] = _live(config, known)
    return data


def _live(config: Config, known: Known) -> dict[str, Any]:
    """Read the sources and the target now and match, exactly as a plan does (nothing is written)."""
    from syncd.matching import match_people
    from syncd.reading import held_twice, opened_target, read_sources, read_target, without
    from syncd.rules import desired_roles

    with ExitStack() as stack:
        readout = read_sources(config, stack)
        target = stack.enter_context(opened_target(config))
        seen = read_target(target, config)
        desired = desired_roles(config.rules, readout.reads, config.rank)
        ledger: dict[EmailKey, Owned] = {}
        if (config.state_dir / STATE_FILE).exists():
            with State(config.state_dir) as state:
                ledger = state.owned_with_ids()
    matched = match_people(without(desired, seen.ambiguous_keys), seen.licensed, ledger, config.identity)
    names = known.names
    person = next((k for k in matched.desired if k in names), None)
    if person is None:  # an alias of a selected person (their UPN, an old address in the row) finds them too
        person = next(
            (k for k, s in matched.desired.items() if s.person and names & set(s.person.aliases)), None
        )
    row_key = person if person is not None else next((k for k in matched.licensed if k in names), None)
    row = matched.licensed.get(EmailKey(row_key)) if row_key else None
    selection = matched.desired.get(EmailKey(person)) if person else None
    # both ways a match is ambiguous (7pace holds one e-mail twice; matching), as the plan lists them
    ambiguous = [a for a in held_twice(seen, desired) + matched.ambiguous if names & set(a.keys)]
    return {
        "selected": None
        if selection is None
        else {
            "key": selection.key,
            "role": selection.role,
            "rule": selection.rule.name,
            "group": selection.rule.group,
        },
        "row": None
        if row is None
        else {"email": row.email, "unique_name": row.unique_name, "id": row.target_id, "role": row.role},
        "identifiers": list(matched.identifiers(EmailKey(person))) if person else [],
        "ambiguous": [{"people": list(a.people), "rows": list(a.rows), "why": a.why} for a in ambiguous],
    }


def render_person(config: Config, name: str, fmt: str, *, live: bool) -> str:
    data = collect_person(config, name, live=live)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    out = [f"Person {name}: known as {', '.join(data['keys'])}"]
    ledger = data["ledger"]
    if ledger is None:
        out.append("  syncd owns no seat for them")
    else:
        ids = ", ".join(f"{k} {ledger[k]}" for k in ("target_id", "vsts_id", "person_id") if ledger[k])
        out.append(
            f"  owns a {ledger['role']} seat as {data['current']} under {ledger['rule']} since "
            f"{ledger['since'][:16]}" + (f" ({ids})" if ids else "")
        )
    out.extend(
        f"  renamed {r['before']} → {r['after']} at {r['at'][:16]} ({r['how']})" for r in data["renames"]
    )
    for c in data["changes"]:
        roles = " → ".join(c["roles"])
        out.append(
            f"  {str(c['at'])[:19]}  {c['action']} {c['outcome']} {c['email']} {roles}  {c['reason'] or ''}"
        )
    live_data = data.get("live")
    if live_data is not None:
        selected, row = live_data["selected"], live_data["row"]
        out.append(
            "  now: "
            + (
                f"selected for {selected['role']} by {selected['rule']} ({selected['group']})"
                if selected
                else "not selected"
            )
            + "; "
            + (
                f"7pace row {row['email'] or row['unique_name']} (id {row['id']}) holds {row['role']}"
                if row
                else "no 7pace seat"
            )
        )
        out.extend(f"    {item}" for item in live_data["identifiers"])
        out.extend(
            f"  AMBIGUOUS: {' and '.join(a['people'])} ↔ {' and '.join(a['rows'])}: {a['why']}"
            for a in live_data["ambiguous"]
        )
    return "\n".join(out)
