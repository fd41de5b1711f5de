"""`syncd check` without `--offline`: reach every source and the target read-only, prove the credentials
work and every rule's group resolves, and print what was found. Nothing is written anywhere."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from syncd.config import Config
from syncd.cycle import SourceSet, opened_target, read_licensed
from syncd.errors import ExitCode, SourceError, TargetError
from syncd.models import Health


def check_online(config: Config, emit: Callable[[str], None]) -> int:
    worst = ExitCode.OK
    checked: set[tuple[str, str]] = set()
    failed_sources: dict[str, str] = {}
    with ExitStack() as stack:
        sources = SourceSet(config, stack)
        for rule in config.rules:
            pair = (rule.source, rule.group)
            if pair in checked:
                continue
            checked.add(pair)
            if rule.source in failed_sources:
                continue
            try:
                read = sources.get(rule.source).read_group(rule.group)
            except SourceError as error:
                failed_sources[rule.source] = str(error)
                emit(f"FAIL  source {rule.source}: {error}")
                worst = ExitCode.UNREACHABLE
                continue
            disabled = sum(1 for p in read.members if not p.enabled)
            extra = f", {disabled} disabled" if disabled else ""
            extra += f", {len(read.unidentified)} without e-mail" if read.unidentified else ""
            detail = f": {read.detail}" if read.detail else ""
            mark = "ok  " if read.health is Health.OK else "FAIL"
            emit(
                f"{mark}  {rule.name} {rule.source}: {rule.group}: {read.health.value}, "
                f"{len(read.members)} member(s){extra}{detail}"
            )
            if read.health is Health.MISSING and worst is ExitCode.OK:
                worst = ExitCode.CONFIG
            elif read.health is not Health.OK:
                worst = ExitCode.UNREACHABLE
        try:
            with opened_target(config) as target:
                licensed = read_licensed(target)
                seats = target.seats()
                limit = f" of {seats.assignable} assignable" if seats and seats.assignable is not None else ""
                emit(f"ok    target {config.target.type}: {len(licensed)} seat(s) held{limit}")
        except TargetError as error:
            emit(f"FAIL  target {config.target.type}: {error}")
            worst = ExitCode.UNREACHABLE
    return int(worst)
