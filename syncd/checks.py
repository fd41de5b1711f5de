"""`syncd check` without `--offline`: reach every source and the target read-only, prove the credentials
work and every rule's group resolves, and print what was found. Nothing is written anywhere."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from syncd.config import Config
from syncd.errors import ExitCode, TargetError, UsageError
from syncd.models import Health
from syncd.reading import opened_target, read_sources, read_target
from syncd.target_read import roles_against


def check_online(config: Config, emit: Callable[[str], None]) -> int:
    worst = ExitCode.OK
    checked: set[tuple[str, str]] = set()
    reported: set[str] = set()
    with ExitStack() as stack:
        readout = read_sources(config, stack)
        for rule in config.rules:
            pair = (rule.source, rule.group)
            if pair in checked:
                continue
            checked.add(pair)
            read = readout.reads[pair]
            failure = readout.source_errors.get(rule.source)
            if failure is not None and read.health is Health.ERROR:
                # the source failed as a whole: one line for it, not one per group
                if rule.source not in reported:
                    reported.add(rule.source)
                    emit(f"FAIL  source {rule.source}: {failure}")
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
        name = config.target_name or config.target.type  # `[target]` is named after its type
        try:
            with opened_target(config) as target:
                seen = read_target(target)
                seats = target.seats()
                limit = f" of {seats.assignable} assignable" if seats and seats.assignable is not None else ""
                emit(f"ok    target {name}: {seen.seats} seat(s) held{limit}")
                emit(f"      roles the server returns: {roles_against(seen.roles, config.role_order)[0]}")
        except TargetError as error:
            emit(f"FAIL  target {name}: {error}")
            worst = ExitCode.UNREACHABLE
    return int(worst)


def probe_target(config: Config, emit: Callable[[str], None], *, fmt: str, write_email: str | None) -> int:
    """`syncd check --probe`: the contract report of the 7pace server; exit 5 when syncd would refuse it."""
    from syncd.targets.timetracker import TimetrackerSettings, TimetrackerTarget
    from syncd.targets.timetracker_probe import probe

    settings = config.target
    if not isinstance(settings, TimetrackerSettings):
        raise UsageError(f"--probe speaks to 7pace Timetracker targets, not {settings.type!r}")
    target = TimetrackerTarget(settings)
    try:
        report = probe(target, config.role_order, auth=settings.auth_label, write_email=write_email)
    finally:
        target.close()
    emit(report.json() if fmt == "json" else report.table())
    return int(ExitCode.UNREACHABLE if report.refuses else ExitCode.OK)
