"""Which target a state belongs to, and where it lives by default (issue 21).

The ownership ledger says which seats syncd gave *in one 7pace organisation*. Used against another one it is
wrong in both directions: seats given by hand there look owned (and are removed), and the first organisation's
records are disowned. So the state records the target it was made for (type, host and path, organisation)
and refuses another (exit 2); and, unless `[state] dir` is set, each target gets its own folder,
`state/<type>-<host>[-<path>]` beside the config. A state in the old default folder (`state/` itself) is
carried over on first use, under its own lock, if it is not bound to another target.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog

from syncd.errors import StateError
from syncd.runlock import RunLock
from syncd.state import STATE_FILE, State
from syncd.target_identity import binding
from syncd.targets.interface import TargetSettings

log = structlog.get_logger("syncd.state_location")


def describe(bound: Mapping[str, str]) -> str:
    org = f", organisation {bound['organisation']}" if bound.get("organisation") else ""
    return f"{bound.get('type', '?')} at {bound.get('url', '?')}{org}"


def check_binding(state: State, settings: TargetSettings) -> None:
    """Bind an unbound state to this target; refuse (exit 2) a state bound to another."""
    wanted = binding(settings)
    recorded = state.target_binding()
    if not recorded:
        state.bind_target(wanted)
        return
    if recorded != wanted:
        raise StateError(
            f"state {state.path} belongs to {describe(recorded)}, but this config targets "
            f"{describe(wanted)}; give each target its own [state] dir, or run `syncd state rebind` if the "
            "target itself moved"
        )


def carry_over(state_dir: Path, legacy_dir: Path | None, settings: TargetSettings) -> None:
    """Move a state from the pre-issue-21 default folder into this target's default folder, once."""
    if legacy_dir is None or (state_dir / STATE_FILE).exists():
        return
    if not (legacy_dir / STATE_FILE).exists():
        return
    with RunLock(legacy_dir, "carry over"), State(legacy_dir) as old:
        recorded = old.target_binding()
    if recorded and recorded != binding(settings):
        return  # another target's: it stays where it is
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(legacy_dir, "carry over"), RunLock(state_dir, "carry over"):
        for suffix in ("", "-wal", "-shm"):
            source = legacy_dir / f"{STATE_FILE}{suffix}"
            if source.exists():
                source.replace(state_dir / source.name)
    log.warning("state carried over to this target's own folder", old=str(legacy_dir), new=str(state_dir))
