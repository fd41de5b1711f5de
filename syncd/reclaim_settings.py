"""The `[reclaim]` table: when a paid seat counts as idle, and whether syncd only reports it or takes it back.

[reclaim]
idle_for = "60d"            # required: no worklog in that time
roles = ["Team"]            # default: the lowest role of [roles] order only
min_seat_age = "60d"        # default: idle_for (a new seat is never idle)
exempt = ["boss@example.com"]
exempt_groups = [{ source = "hr", group = "Managers" }]
mode = "report"             # or "reclaim"
warn_before = "7d"          # default "0s": reclaim without a warning period
warn_channel = "ops-mail"   # optional: mail each warning to the person through this [[alerts]] email entry
max_per_run = 25            # reclaims per run; they also count toward the removal guards
regrant_group = { source = "hr", group = "Timetracker again" }
activity_overlap = "26h"    # how far back an incremental worklog read reaches past the last read
activity_budget = 300       # requests per run for the first worklog read, spread over runs (0: no limit)
devops_source = "ado"       # optional: an azure_devops source whose users' lastAccessedDate is listed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from syncd.config_section import Section
from syncd.identity import EmailKey

DEFAULT_MAX_PER_RUN = 25
# 7pace writes worklog times without an offset, in a zone it does not document ([U]): an incremental read
# reaches back past the last read by the widest zone difference (UTC-12 … UTC+14) so no worklog is missed.
DEFAULT_OVERLAP = "26h"
# The first read of a large organisation (10,000 people: ~1,000 requests, 10 minutes of 7pace's quota) is
# spread over runs: at most this many requests per run (3 minutes of the quota), a week of worklogs at a time.
DEFAULT_BUDGET = 300


@dataclass(frozen=True, slots=True)
class GroupRef:
    source: str
    group: str

    def label(self) -> str:
        return f"{self.source}: {self.group}"


@dataclass(frozen=True, slots=True)
class ReclaimSettings:
    idle_for: timedelta
    roles: frozenset[str]
    min_seat_age: timedelta
    exempt: frozenset[EmailKey]
    exempt_groups: tuple[GroupRef, ...]
    mode: Literal["report", "reclaim"]
    warn_before: timedelta
    max_per_run: int
    regrant_group: GroupRef | None
    activity_overlap: timedelta
    activity_budget: int = 300  # requests per run for the first worklog read (0: no limit)
    warn_channel: str | None = None  # an [[alerts]] entry of type email: warnings are mailed to the person
    devops_source: str | None = None  # an azure_devops source: lastAccessedDate for the idle list
    devops_url: str = "https://vsaex.dev.azure.com"

    @property
    def lookback(self) -> timedelta:
        """The first read's window: idle_for and a day more, so a person idle just short of it still shows."""
        return self.idle_for + timedelta(days=1)

    def groups(self) -> tuple[GroupRef, ...]:
        """Every group this table reads (besides the rules' groups)."""
        return (*self.exempt_groups, *((self.regrant_group,) if self.regrant_group else ()))


def parse_reclaim(
    section: Section, role_order: tuple[str, ...], source_types: Mapping[str, str]
) -> ReclaimSettings | None:
    """Read `[reclaim]`; None when absent or when it has problems (reported one line each)."""
    if not section.written_keys():
        section.finish()
        return None
    before = len(section.problems)
    source_names = set(source_types)
    idle_for = section.duration("idle_for", None)
    if idle_for is None and not section.has("idle_for"):
        section.error("idle_for", "required (a duration such as '60d': no worklog in that time)")
    elif idle_for is not None and idle_for < timedelta(days=1):
        section.error("idle_for", "must be at least '1d' (time is logged by the day)")
    lowest = role_order[-1:] if role_order else ()
    roles = section.str_list("roles", lowest)
    for i, role in enumerate(roles):
        if role not in role_order:
            section.error(f"roles[{i}]", f"{role!r} is not in [roles] order ({', '.join(role_order)})")
    if not roles:
        section.error("roles", "must name at least one role (default: the lowest of [roles] order)")
    min_age = section.duration("min_seat_age", None)
    exempt = section.email_set("exempt")
    exempt_groups = tuple(
        ref for s in section.sections("exempt_groups") if (ref := _group(s, source_names)) is not None
    )
    mode = section.str("mode", "report", choices=("report", "reclaim"))
    warn_before = section.duration("warn_before", "0s") or timedelta(0)
    max_per_run = section.int("max_per_run", DEFAULT_MAX_PER_RUN, minimum=1)
    regrant = _group(section.section("regrant_group"), source_names) if section.has("regrant_group") else None
    overlap = section.duration("activity_overlap", DEFAULT_OVERLAP)
    budget = section.int("activity_budget", DEFAULT_BUDGET, minimum=0)
    warn_channel = section.optional_str(
        "warn_channel", expected='the name of an [[alerts]] entry of type "email"'
    )
    devops = section.optional_str("devops_source", expected="the name of an azure_devops source")
    devops_url = section.url("devops_url", "https://vsaex.dev.azure.com")
    section.finish()
    if devops is not None and source_types.get(devops) != "azure_devops":
        found = f"is a {source_types[devops]} source" if devops in source_types else "is not defined"
        section.error(
            "devops_source", f'{devops!r} {found}; name a [[sources]] entry with type = "azure_devops"'
        )
    if idle_for is not None and warn_before >= idle_for:
        section.error("warn_before", "must be shorter than idle_for (the warning comes before the reclaim)")
    if len(section.problems) > before or idle_for is None or overlap is None:
        return None
    return ReclaimSettings(
        idle_for=idle_for,
        roles=frozenset(roles),
        min_seat_age=min_age if min_age is not None else idle_for,
        exempt=exempt,
        exempt_groups=exempt_groups,
        mode="reclaim" if mode == "reclaim" else "report",
        warn_before=warn_before,
        max_per_run=max_per_run,
        regrant_group=regrant,
        activity_overlap=overlap,
        activity_budget=budget,
        warn_channel=warn_channel,
        devops_source=devops,
        devops_url=devops_url or "https://vsaex.dev.azure.com",
    )


def _group(section: Section, source_names: set[str]) -> GroupRef | None:
    source = section.str("source")
    group = section.str("group", expected="a group name of that source")
    section.finish()
    if source and source not in source_names:
        known = ", ".join(sorted(source_names)) or "none defined"
        section.error("source", f"no [[sources]] is named {source!r} (defined: {known})")
        return None
    return GroupRef(source, group) if source and group else None


def check_warn_channel(
    section: Section, settings: ReclaimSettings | None, email_alerts: Mapping[str, bool]
) -> None:
    """`warn_channel` must name an `[[alerts]]` entry of type email (`email_alerts`: name → is email)."""
    name = settings.warn_channel if settings is not None else None
    if name is None or email_alerts.get(name):
        return
    emails = ", ".join(sorted(n for n, is_email in email_alerts.items() if is_email)) or "none"
    found = "is a webhook" if name in email_alerts else "is not defined"
    section.error(
        "warn_channel", f'{name!r} {found}; name an [[alerts]] entry with type = "email" (defined: {emails})'
    )
