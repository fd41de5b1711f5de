"""`syncd grant EMAIL`: give a reclaimed seat back (issue 18). The reclaim is forgotten (audited); the rules
then assign the seat at the next run, under the ownership ledger, grace and every guard as usual."""

from __future__ import annotations

import uuid
from datetime import datetime

from syncd.audit import AuditLog
from syncd.config import Config
from syncd.errors import UsageError
from syncd.identity import normalise_email
from syncd.idle_seats import GRANT
from syncd.reclaim_state import ReclaimState
from syncd.runlock import RunLock
from syncd.state import State


def grant(config: Config, email: str, now: datetime) -> str:
    key = normalise_email(email)
    if key is None:
        raise UsageError(f"grant: {email!r} is not an e-mail address")
    with RunLock(config.state_dir, "grant"), State(config.state_dir) as state:
        store = ReclaimState(state)
        entry = store.reclaimed().get(key)
        if entry is None:
            raise UsageError(
                f"grant: {email} has no reclaimed seat (syncd status lists reclaimed people); "
                "a seat that was never reclaimed follows the rules"
            )
        store.forget_reclaimed([key])
    audit = AuditLog(config.audit_dir, run_id=uuid.uuid4().hex[:16], dry_run=False, target=config.target.type)
    try:
        audit.event(
            GRANT,
            f"{GRANT} {entry.email}: reclaim of {entry.since:%Y-%m-%d} undone by the admin",
            {"user.target.email": entry.email, "user.target.roles": [entry.role]},
        )
    finally:
        audit.close()
    return (
        f"{entry.email}: reclaim of {entry.since:%Y-%m-%d} undone; the next run gives the seat back "
        "if a rule still selects them"
    )
