"""Which target a state belongs to, and where it lives by default (issue 21).

The ownership ledger says which seats syncd gave *in one 7pace organisation*. Used against another one it is
wrong in both directions: seats given by hand there look owned (and are removed), and the first organisation's
records are disowned. So the state records the target it was made for (type, host and path, organisation)
and refuses another (exit 2); and, unless `[state] dir` is set, each target gets its own folder,
`state/<type>-<host>[-<path>]` beside the config. A state in the old default folder (`state/` itself) is
carried over on first use, under its own lock, if it is not bound to another target.

With several targets (issue 19) each has its own folder, and the folder a single-target config used — `[state]
dir` itself, or `state/` — may still hold that config's state: it is carried over into the folder of the
target it is bound to, and a state bound to none of them, or to nothing, is never guessed at (`stray_state`
says so in one line; the targets' own states are used).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import structlog

from syncd.errors import StateError, SyncdError
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


def carry_over(
    state_dir: Path, legacy_dir: Path | None, settings: TargetSettings, *, unbound: bool = True
) -> None:
    """Move a state from the pre-issue-21 default folder (or, with several targets, from the folder the
    single-target config used) into this target's own folder, once. `unbound`: whether a state that records
    no target is taken too — only when the config has this one target can it have been made for it."""
    if legacy_dir is None or (state_dir / STATE_FILE).exists():
        return
    if not (legacy_dir / STATE_FILE).exists():
        return
    with RunLock(legacy_dir, "carry over"), State(legacy_dir) as old:
        recorded = old.target_binding()
    if recorded != binding(settings) and (recorded or not unbound):
        return  # another target's, or nobody can say whose: it stays where it is
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(legacy_dir, "carry over"), RunLock(state_dir, "carry over"):
        for suffix in ("", "-wal", "-shm"):
            source = legacy_dir / f"{STATE_FILE}{suffix}"
            if source.exists():
                source.replace(state_dir / source.name)
    log.warning("state carried over to this target's own folder", old=str(legacy_dir), new=str(state_dir))


def stray_state(
    shared_dir: Path | None,
    targets: Sequence[tuple[str, Path, TargetSettings]],
    carrying: Collection[str],
) -> str | None:
    """One warning line about a state in `shared_dir` (the single-target layout's folder) that a config with
    several targets will not carry over now, else None. `targets`: each target's name, own state folder and
    settings; `carrying`: the targets this command runs (each carries over its own state, see `carry_over`).

    A state bound to none of the targets, or to nothing, would silently be left behind — its ledger is what
    says which seats syncd gave, so every leaver would keep a paid seat. It is never guessed at: the line says
    which file it is and what to do, and each target goes on with its own state."""
    if shared_dir is None or not (shared_dir / STATE_FILE).exists():
        return None
    found = shared_dir / STATE_FILE
    try:
        with RunLock(shared_dir, "read binding"), State(shared_dir) as old:
            recorded = old.target_binding()
    except SyncdError as error:
        return f"warning: {found} was left by a single-target config and could not be read: {error}"
    folders = ", ".join(f"{name}: {folder}" for name, folder, _ in targets)
    owner = next((t for t in targets if binding(t[2]) == recorded), None) if recorded else None
    if owner is not None:
        name, folder, _ = owner
        if (folder / STATE_FILE).exists():
            return (
                f"warning: {found} is target {name}'s state from its single-target config, but {name} has "
                f"its own state in {folder}, which is the one used; {found} is left as it is (remove it once "
                "you know it is not needed)"
            )
        if name in carrying:
            return None
        return (
            f"note: {found} is target {name}'s state from its single-target config; it moves into {folder} "
            f"on {name}'s next plan, apply or run"
        )
    if recorded:
        return (
            f"warning: {found} belongs to {describe(recorded)}, none of this config's targets, and is not "
            f"used; if it is one of them at a new address, move it into that target's folder ({folders}) "
            "and run `syncd state rebind --target NAME`"
        )
    return (
        f"warning: {found} records no target (made before states were bound), so it cannot be attributed "
        "to one of this config's targets and is not used; run syncd once with the single-target config it "
        f"was made with (that binds it, then it is carried over), or move it into its target's folder "
        f"({folders})"
    )
