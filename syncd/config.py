"""Load and validate `syncd.toml` into frozen settings, reporting every problem in one pass.

Each problem is one line naming the file, the dotted key and what is allowed. Source and target tables are
parsed by their own modules (through the registries), so adding a source type never touches this file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.alerts.settings import AlertSettings, parse_alerts
from syncd.clock_check import ClockPolicy, parse_clock
from syncd.config_section import Section
from syncd.errors import ConfigError
from syncd.identity import DomainAliases
from syncd.models import NONE_ROLE, Policy, Rule
from syncd.secrets import SecretAbsent, SecretRef
from syncd.sources import SOURCE_MODULES, source_type
from syncd.sources.interface import SourceSettings
from syncd.target_identity import folder_name
from syncd.targets import TARGET_MODULES, target_type
from syncd.targets.interface import TargetSettings

if TYPE_CHECKING:
    from syncd.pricing import PricingSettings
    from syncd.reclaim_settings import ReclaimSettings

DEFAULT_ROLE_ORDER = ("Administrator", "Budget", "Product", "Team")
CONFIG_ENV = "SYNCD_CONFIG"
DEFAULT_CONFIG_NAME = "syncd.toml"


MATCH_KINDS = ("mail", "upn", "proxy_addresses")


@dataclass(frozen=True)
class IdentitySettings:
    """`[identity]` (issue 16): which domains are one, and which identifier is written for a new seat."""

    domain_aliases: DomainAliases = field(default_factory=DomainAliases)
    match: tuple[str, ...] = ()  # empty: the source's e-mail (its identity attributes, in order)


@dataclass(frozen=True, slots=True)
class Schedule:
    every: timedelta | None = timedelta(hours=1)
    cron: str | None = None
    jitter: timedelta = timedelta(0)
    stale_after: timedelta = timedelta(hours=3)  # no completed run for this long: `stale` (alerts, status)


@dataclass(frozen=True)
class NamedTarget:
    """One licence target (issue 19): `[target]` (named after its type) or one `[[targets]]` entry.

    What is its own: its state folder (ledger, absences, baselines, intents, lock), its roles, seat cap and
    pricing; `None` for the last three means the config's top-level `[roles]`, `[policy] seat_limit` and
    `[pricing]`."""

    name: str
    settings: TargetSettings
    state_dir: Path
    legacy_state_dir: Path | None = None
    role_order: tuple[str, ...] = ()
    seat_limit: int | None = None
    pricing: PricingSettings | None = None
    listed: bool = False  # written as `[[targets]]` (its name goes into the audit trail and plan files)


@dataclass(frozen=True)
class Config:
    file: Path
    digest: str  # sha256 of the file's bytes: binds reviewed plans to the config they were made with
    target: TargetSettings
    sources: tuple[SourceSettings, ...]
    rules: tuple[Rule, ...]
    role_order: tuple[str, ...]
    policy: Policy
    schedule: Schedule
    state_dir: Path
    audit_dir: Path
    audit_retention_days: int
    metrics_file: Path | None
    dry_run: bool
    pricing: PricingSettings | None
    # issue 21: [plan] signing_key (saved plans are HMAC-signed and must be to be applied)
    plan_signing_key: SecretRef | None = None
    clock: ClockPolicy = field(default_factory=ClockPolicy)  # issue 21: [clock] skew, max_ahead
    legacy_state_dir: Path | None = None  # the pre-issue-21 default state folder, when [state] dir is unset
    alerts: tuple[AlertSettings, ...] = ()
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    reclaim: ReclaimSettings | None = None  # idle seats (issue 18)
    # issue 19: every target of the config, in config order; `target` and the fields above are the first's
    # (the single-target view, see `for_target`)
    targets: tuple[NamedTarget, ...] = ()
    target_name: str | None = None  # set for a `[[targets]]` target: written as `syncd.target.name`
    notes: tuple[str, ...] = ()  # not errors, but worth a line in `check` and a warning at load (issue 19)
    # issue 19: with several targets, the folder a single-target config of this file kept its state in
    # (`[state] dir` itself, or `state/`): a state there is carried over into the folder of the target it is
    # bound to (multi_target), never into another's
    shared_state_dir: Path | None = None

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def source(self, name: str) -> SourceSettings:
        for settings in self.sources:
            if settings.name == name:
                return settings
        raise KeyError(name)

    def rank(self, role: str) -> int:
        """Higher is more privileged; None (no seat) is 0."""
        if role == NONE_ROLE or role.casefold() == "none":
            return 0
        folded = role.casefold()  # 7pace may spell a role its own way (docs/contract.md §1.4)
        for index, name in enumerate(self.role_order):
            if name == role or name.casefold() == folded:
                return len(self.role_order) - index
        # a role the target holds that the config does not list: the planner leaves such seats alone
        # (reconcile rule 6); ranked above every configured role as a second line of defence
        return len(self.role_order) + 1

    def canonical_role(self, role: str) -> str:
        """The configured spelling of a role the target spells its own way (unknown roles unchanged)."""
        if role in self.role_order or role == NONE_ROLE:
            return role
        folded = role.casefold()
        if folded == "none":
            return NONE_ROLE
        return next((name for name in self.role_order if name.casefold() == folded), role)


def locate(explicit: str | None) -> Path:
    """`-c FILE`, else `$SYNCD_CONFIG`, else `./syncd.toml`."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_CONFIG_NAME)


def load(path: Path, *, secrets: bool = True) -> Config:
    """Read and validate; raise ConfigError carrying every problem found, one line each.

    `secrets=False` is for commands that never contact a peer: a secret that is not there (yet) is then
    not a problem; the references are still validated in shape."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (pass -c FILE, set ${CONFIG_ENV}, "
            f"or create ./{DEFAULT_CONFIG_NAME})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: TOML syntax error: {error}") from None
    return parse(
        data, path.resolve() if path.exists() else path, hashlib.sha256(raw).hexdigest(), secrets=secrets
    )


def parse(data: Mapping[str, Any], file: Path, digest: str = "", *, secrets: bool = True) -> Config:
    problems: list[str] = []
    root = Section(data, "", file, problems)

    parsed = _parse_targets(root)
    _same_target_twice(root, parsed)
    sources = _parse_sources(root)
    first_default = target_type(parsed[0].settings.type).default_roles if parsed else ()
    role_order = _parse_roles(root.section("roles"), first_default or DEFAULT_ROLE_ORDER)
    targets_roles = {t.name: _target_roles(t, role_order if root.has("roles") else None) for t in parsed}
    rules = _parse_rules(root, {s.name for s in sources}, role_order, targets_roles)
    policy = _parse_policy(root.section("policy"))
    schedule = _parse_schedule(root.section("schedule"))

    # state and audit folders are created on first use; one that never could be is a config error
    state = root.section("state")
    # issue 21: one state folder per target by default; `state/` itself was the default before
    legacy_state, default_audit = file.parent / "state", file.parent / "logs"
    default_state = legacy_state / folder_name(parsed[0].settings) if parsed else legacy_state
    explicit_state = state.has("dir")
    state_dir = state.path("dir", must_exist=False, kind="directory", created_default=default_state)
    state.finish()
    audit = root.section("audit")
    audit_dir = audit.path("dir", must_exist=False, kind="directory", created_default=default_audit)
    retention = audit.int("retention_days", 400, minimum=1)
    audit.finish()
    targets = _named_targets(
        parsed, targets_roles, state_dir or default_state, legacy_state, explicit=explicit_state
    )
    shared_state = state_dir if explicit_state and state_dir else legacy_state

    metrics_file = root.path("metrics_file", must_exist=False)
    dry_run = root.bool("dry_run", False)
    pricing = _parse_pricing(root)
    plan_section = root.section("plan")
    signing_key = plan_section.secret("signing_key", required=False)
    plan_section.finish()
    clock = parse_clock(root.section("clock"))
    alerts = parse_alerts(root)
    identity = _parse_identity(root.section("identity"))
    reclaim = _parse_reclaim(root, role_order, {s.name: s.type for s in sources})
    _check_warn_channel(root, reclaim, {a.name: a.email is not None for a in alerts})
    root.finish()

    if not secrets:
        problems[:] = [p for p in problems if not isinstance(p, SecretAbsent)]
    if problems:
        raise ConfigError(problems)
    config = Config(
        file=file,
        digest=digest,
        target=targets[0].settings,
        sources=tuple(sources),
        rules=tuple(rules),
        role_order=role_order,
        policy=policy,
        schedule=schedule,
        state_dir=state_dir or default_state,  # None only when problems were reported
        audit_dir=audit_dir or default_audit,
        audit_retention_days=retention,
        metrics_file=metrics_file,
        dry_run=dry_run,
        pricing=pricing,
        plan_signing_key=signing_key,
        clock=clock,
        legacy_state_dir=None if explicit_state else legacy_state,
        alerts=alerts,
        identity=identity,
        reclaim=reclaim,
        targets=targets,
        # a `[target]` config keeps the previous release's rule (its `[pricing]` prices its one target,
        # whatever the model); vendor matching is for `[[targets]]`, where one table may meet several vendors
        notes=_pricing_notes(pricing, parsed) if any(t.index is not None for t in parsed) else (),
        shared_state_dir=shared_state if len(targets) > 1 else None,
    )
    # one target: its view is the config every single-target caller has always seen. Several: commands take
    # each target's view with `for_target` (the Cycle refuses a config that still holds several)
    return for_target(config, targets[0].name) if len(targets) == 1 else config


def _pricing_notes(pricing: PricingSettings | None, parsed: list[_ParsedTarget]) -> tuple[str, ...]:
    from syncd.pricing_settings import unfit_note

    note = unfit_note(pricing, [t.settings.type for t in parsed]) if pricing is not None else None
    return () if note is None else (note,)


def _parse_identity(section: Section) -> IdentitySettings:
    aliases: dict[str, str] = {}
    table = section.section("domain_aliases")
    for alias in table.written_keys():
        canonical = table.str(alias, expected="a domain name (the canonical domain this alias stands for)")
        if canonical and (" " in canonical.strip() or "@" in canonical):
            table.error(alias, f'{canonical!r} is not a domain name (write e.g. "contoso.com")')
        elif canonical:
            aliases[alias] = canonical
    table.finish()
    match = section.str_list("match")
    for i, kind in enumerate(match):
        if kind not in MATCH_KINDS:
            section.error(f"match[{i}]", f"{kind!r} is not one of: {', '.join(MATCH_KINDS)}")
    section.finish()
    return IdentitySettings(DomainAliases(aliases), tuple(k for k in match if k in MATCH_KINDS))


def _parse_target(section: Section) -> TargetSettings | None:
    kind = section.str("type", "timetracker", choices=sorted(TARGET_MODULES))
    if not kind:
        return None
    return target_type(kind).parse(section)


@dataclass(frozen=True)
class _ParsedTarget:
    index: int | None  # position in `[[targets]]`; None for `[target]`
    name: str
    settings: TargetSettings
    roles: tuple[str, ...] | None  # its own `roles.order`, if it has one
    seat_limit: int | None
    pricing: PricingSettings | None


TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _parse_targets(root: Section) -> list[_ParsedTarget]:
    """`[target]` (one target, named after its type) or `[[targets]]` (each with its `name`), not both."""
    if root.has("target") and root.has("targets"):
        root.problems.append(
            f"{root.file}: target, targets: both [target] and [[targets]] are set; write one [[targets]] "
            "entry (with a name) per target, or keep the single [target] table"
        )
        root.section("target")
        root.sections("targets")
        return []
    if not root.has("targets"):
        single = _parse_target(root.section("target", required=True))
        return [] if single is None else [_ParsedTarget(None, single.type, single, None, None, None)]
    found: list[_ParsedTarget] = []
    seen: set[str] = set()
    sections = root.sections("targets")
    if not sections and not root.problems:
        root.error("targets", "at least one [[targets]] table is required (name, type and its keys)")
    for index, section in enumerate(sections):
        name = section.str("name", expected="a name for this target, used by rules' `target`")
        if name and not TARGET_NAME.fullmatch(name):
            section.error(
                "name", f"{name!r} is not a target name: letters, digits, '.', '_' and '-', at most 64"
            )
            name = ""
        elif name and name.casefold() in seen:
            section.error("name", f"duplicate target name {name!r}; each [[targets]] needs its own name")
            name = ""
        seen.add(name.casefold())
        roles = None
        if section.has("roles"):
            roles = _parse_roles(section.section("roles"), DEFAULT_ROLE_ORDER)
        else:
            section.section("roles")  # a known key (did-you-mean), set or not
        seat_limit = section.optional_int("seat_limit", minimum=0)
        pricing = _parse_pricing(section)
        settings = _parse_target(section)
        if pricing is not None and settings is not None:
            _pricing_fits(section, pricing, settings.type)
        if name and settings is not None:
            found.append(_ParsedTarget(index, name, settings, roles, seat_limit, pricing))
    return found


def _pricing_fits(section: Section, pricing: PricingSettings, kind: str) -> None:
    from syncd.pricing_settings import wrong_vendor

    if (why := wrong_vendor(pricing, kind)) is not None:
        section.error("pricing.model", why)


def _target_roles(parsed: _ParsedTarget, top: tuple[str, ...] | None) -> tuple[str, ...]:
    """A target's role order: its own `roles.order`, else the top-level `[roles]`, else its type's default."""
    if parsed.roles is not None:
        return parsed.roles
    if top is not None:
        return top
    return target_type(parsed.settings.type).default_roles or DEFAULT_ROLE_ORDER


def _named_targets(
    parsed: list[_ParsedTarget],
    roles: Mapping[str, tuple[str, ...]],
    state_dir: Path,
    legacy_state: Path,
    *,
    explicit: bool,
) -> tuple[NamedTarget, ...]:
    """Each target's own state folder. One target: exactly where it was before issue 19 (`[state] dir`, or
    `state/<type>-<host>[-<path>]` with the pre-issue-21 `state/` carried over). Several: `[state] dir/<name>`
    when the folder is set, else each its own `state/<type>-<host>[-<path>]` (so a target that was the
    config's only one keeps its state when others are added); a state left in the single-target layout's
    folder is carried over by the target it is bound to (`Config.shared_state_dir`), and an unbound one (the
    pre-issue-21 `state/`) only by a single-target config, since nothing says which target it was made for."""
    several = len(parsed) > 1
    named: list[NamedTarget] = []
    for item in parsed:
        if not several:
            folder = state_dir
        elif explicit:
            folder = state_dir / item.name
        else:
            folder = legacy_state / folder_name(item.settings)
        named.append(
            NamedTarget(
                name=item.name,
                settings=item.settings,
                state_dir=folder,
                legacy_state_dir=legacy_state if not explicit and not several else None,
                role_order=roles[item.name],
                seat_limit=item.seat_limit,
                pricing=item.pricing,
                listed=item.index is not None,
            )
        )
    return tuple(named)


def _same_target_twice(root: Section, parsed: list[_ParsedTarget]) -> None:
    """Two entries for one organisation or account would share (and fight over) one state and its seats."""
    first: dict[str, _ParsedTarget] = {}
    for item in parsed:
        key = folder_name(item.settings)
        other = first.setdefault(key, item)
        if other is not item:
            # the rule stays (a state's binding ignores port and scheme, so that a server moving to https or
            # a new port keeps its ledger); the message says why, and how two servers on one host differ
            root.problems.append(
                f"{root.file}: targets[{item.index}]: {item.name!r} is the same target as {other.name!r} "
                f"({key}): a target is its type, host and path (a port or scheme is not part of it); two "
                "servers on one host are told apart by their collection path (…/api/<Collection>); list each "
                "organisation or account once"
            )


def for_target(config: Config, name: str) -> Config:
    """The single-target view of one of the config's targets: its settings, its rules, its roles, seat cap,
    pricing (the top-level `[pricing]` only when its vendor bills by that model) and state folder; everything
    else shared. Pure; KeyError for a name the config does not have."""
    from syncd.pricing_settings import target_pricing

    named = next((t for t in config.targets if t.name == name), None)
    if named is None:
        raise KeyError(name)
    several = len(config.targets) > 1
    rules = tuple(r for r in config.rules if r.target == name or (not several and not r.target))
    policy = config.policy
    if named.seat_limit is not None:
        policy = replace(policy, seat_limit=named.seat_limit)
    return replace(
        config,
        target=named.settings,
        rules=rules,
        role_order=named.role_order,
        policy=policy,
        pricing=target_pricing(named.pricing, config.pricing, named.settings.type)
        if named.listed
        else config.pricing,
        state_dir=named.state_dir,
        legacy_state_dir=named.legacy_state_dir,
        targets=(named,),
        target_name=named.name if named.listed else None,
    )


def several_targets(config: Config) -> bool:
    return len(config.targets) > 1


def _parse_sources(root: Section) -> list[SourceSettings]:
    sources: list[SourceSettings] = []
    seen: set[str] = set()
    for section in root.sections("sources"):
        name = section.str("name", expected="a name for this source, used by rules")
        kind = section.str("type", choices=sorted(SOURCE_MODULES))
        if name and name in seen:
            section.error("name", f"duplicate source name {name!r}; each [[sources]] needs its own name")
        seen.add(name)
        if not kind:
            section.finish()
            continue
        sources.append(source_type(kind).parse(section, name))
    if not root.has("sources"):
        root.error("sources", "at least one [[sources]] table is required")
    # references between sources (e.g. one that expands nested groups through another) are each type's own
    for index, settings in enumerate(sources):
        check = source_type(settings.type).cross_check
        for key, problem in check(settings, sources) if check is not None else ():
            root.problems.append(f"{root.file}: sources[{index}].{key}: {problem}")
    return sources


def _parse_roles(section: Section, default: tuple[str, ...] = DEFAULT_ROLE_ORDER) -> tuple[str, ...]:
    order = section.str_list("order", default)
    section.finish()
    if not order:
        section.error("order", "must list at least one role, highest first")
    if NONE_ROLE in order:
        section.error(
            "order", f"{NONE_ROLE!r} means no seat and must not be listed; list seat-holding roles only"
        )
    duplicates = sorted({r for r in order if order.count(r) > 1})
    if duplicates:
        section.error("order", f"lists {', '.join(map(repr, duplicates))} more than once")
    return tuple(r for r in order if r != NONE_ROLE)


def _parse_rules(
    root: Section,
    source_names: set[str],
    role_order: tuple[str, ...],
    target_roles: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Rule]:
    """`target_roles`: each target's role order by name (issue 19). With several targets every rule names its
    target and its role is checked against that target's roles."""
    rules: list[Rule] = []
    seen: dict[tuple[str, str, str], int] = {}
    targets = dict(target_roles or {})
    several = len(targets) > 1
    names = ", ".join(targets)
    for index, section in enumerate(root.sections("rules")):
        source = section.str("source")
        group = section.str("group", expected="a group name (DN, principal name, object id or file group)")
        target = section.optional_str("target", expected="the name of a [[targets]] entry") or ""
        if target and targets and target not in targets:
            hint = _closest(target, set(targets))
            section.error("target", f"no target is named {target!r}{hint} (defined: {names})")
            target = "?"
        elif not target and several:
            section.error("target", f"required when there are several [[targets]]: name one of {names}")
            target = "?"
        order = targets.get(target) or (
            next(iter(targets.values())) if not several and targets else role_order
        )
        allowed_roles = (*order, NONE_ROLE)
        # no target parsed (reported already) or none named: which roles are allowed is not known
        unknown = target == "?" or (target_roles is not None and not targets)
        role = section.str("role") if unknown else section.str("role", choices=allowed_roles)
        section.finish()
        if source and source not in source_names:
            hint = _closest(source, source_names)
            known = ", ".join(sorted(source_names)) or "none defined"
            section.error("source", f"no [[sources]] is named {source!r}{hint} (defined: {known})")
        if source and group and role and target != "?":
            key = (target, source, group.casefold())
            if key in seen:
                section.error(
                    "group", f"same source and group as rules[{seen[key]}]; merge them into one rule"
                )
            seen[key] = index
            rules.append(Rule(index, source, group, role, target))
    if not root.has("rules"):
        root.error("rules", "at least one [[rules]] table is required (source, group, role)")
    for name in targets if several else ():
        if not any(r.target == name for r in rules) and not root.problems:
            root.problems.append(
                f"{root.file}: targets: no [[rules]] names target {name!r}; give it at least one rule "
                f'(target = "{name}"), or remove it'
            )
    return rules


def _closest(value: str, choices: set[str]) -> str:
    import difflib

    hint = difflib.get_close_matches(value, sorted(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _parse_policy(section: Section) -> Policy:
    unmanaged = section.str("unmanaged", "keep", choices=("keep", "remove"))
    protected = section.email_set("protected")
    grace = section.duration("grace", "24h")
    policy = Policy(
        unmanaged="remove" if unmanaged == "remove" else "keep",
        protected=protected,
        grace=grace if grace is not None else timedelta(hours=24),
        max_removals=section.int("max_removals", 50, minimum=0),
        max_removal_percent=_percent(section, "max_removal_percent", 10.0),
        max_group_shrink_percent=_percent(section, "max_group_shrink_percent", 50.0),
        seat_limit=section.optional_int("seat_limit", minimum=0),
        adopt=section.bool("adopt", True),
        removal_window=section.duration("removal_window", "7d") or timedelta(0),
        window_removal_percent=_optional_percent(section, "max_window_removal_percent"),
    )
    section.finish()
    return policy


def _optional_percent(section: Section, key: str) -> float | None:
    """A percentage that, left unset, is derived from another key (None); still a known key either way."""
    value = _percent(section, key, 0.0)
    return value if section.has(key) else None


def _percent(section: Section, key: str, default: float) -> float:
    value = section.number(key, default, minimum=0.0)
    if value > 100:
        section.error(key, f"{value:g} is out of range: must be between 0 and 100 (a percentage)")
    return value


def _parse_schedule(section: Section) -> Schedule:
    every = section.duration("every", None)
    cron = section.optional_str("cron", expected="a 5-field crontab expression such as '7 * * * *'")
    jitter = section.duration("jitter", "0s") or timedelta(0)
    stale_after = section.duration("stale_after", None)
    section.finish()
    if every is not None and cron is not None:
        section.error("cron", "set either 'every' or 'cron', not both")
    if cron is not None and len(cron.split()) != 5:
        section.error("cron", f"{cron!r} is not a 5-field crontab expression such as '7 * * * *'")
    if every is not None and every <= timedelta(0):
        section.error("every", "must be longer than 0s")
    if every is None and cron is None:
        every = timedelta(hours=1)
    if stale_after is None:  # three missed runs, or 3 h for a cron schedule
        stale_after = 3 * every if every is not None and every > timedelta(0) else timedelta(hours=3)
    return Schedule(every=every, cron=cron, jitter=jitter, stale_after=stale_after)


def _parse_pricing(root: Section) -> PricingSettings | None:
    if not root.has("pricing"):
        root.section("pricing")  # marks the key as known for did-you-mean
        return None
    from syncd.pricing_settings import parse_pricing

    return parse_pricing(root.section("pricing"))


def _parse_reclaim(
    root: Section, role_order: tuple[str, ...], sources: Mapping[str, str]
) -> ReclaimSettings | None:
    from syncd.reclaim_settings import parse_reclaim

    return parse_reclaim(root.section("reclaim"), role_order, sources)


def _check_warn_channel(
    root: Section, reclaim: ReclaimSettings | None, email_alerts: Mapping[str, bool]
) -> None:
    from syncd.reclaim_settings import check_warn_channel

    check_warn_channel(Section({}, "reclaim", root.file, root.problems), reclaim, email_alerts)
