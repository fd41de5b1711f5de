"""`syncd check --probe`: what the real 7pace server speaks, read-only (docs/contract.md §1).

Every item of the contract that 7pace's documentation leaves open, asked of the server itself and judged:
**ok** (the documented behaviour), **fallback** (a dialect syncd handles: it says how), or **refuses**
(syncd will not run against this: every run would exit 5). A handful of GETs plus two full reads of
`users/roles` (one raw, one judged) and one of `GET users`; nothing is written unless `--probe-write EMAIL`
asks for one write that changes nothing (that user's current role, sent again by id in the server's
spelling).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from syncd.errors import TargetError
from syncd.identity import normalise_email
from syncd.models import Action, Change, Outcome, Reason
from syncd.target_read import TargetRead, roles_against
from syncd.targets.timetracker import DOCUMENTED_VERSIONS, TimetrackerTarget

OK, FALLBACK, REFUSES = "ok", "fallback", "refuses"


@dataclass(frozen=True)
class Finding:
    item: str
    found: str
    verdict: str  # ok | fallback | refuses


@dataclass(frozen=True)
class ProbeReport:
    target: str
    findings: tuple[Finding, ...]

    @property
    def refuses(self) -> bool:
        return any(f.verdict == REFUSES for f in self.findings)

    def table(self) -> str:
        width = max(len(f.item) for f in self.findings)
        lines = [f"Contract probe of {self.target}:"]
        lines += [f"  {f.verdict.upper():<8} {f.item:<{width}}  {f.found}" for f in self.findings]
        return "\n".join(lines)

    def json(self) -> str:
        body = {"target": self.target, "findings": [asdict(f) for f in self.findings]}
        return json.dumps(body, indent=2, ensure_ascii=False)


def probe(
    target: TimetrackerTarget, role_order: Sequence[str], *, auth: str, write_email: str | None = None
) -> ProbeReport:
    findings = [Finding("auth scheme", auth, OK)]
    findings += _versions(target)
    findings += _paging(target)
    findings += _identity_fields(target)
    read: TargetRead | None = None
    try:
        read = target.read()
        findings.append(
            Finding(
                "target read",
                f"complete: {read.seats} seat(s) in {read.pages} page(s) of up to {read.largest_page} rows"
                + (f"; {'; '.join(read.notes)}" if read.notes else ""),
                FALLBACK if read.notes else OK,
            )
        )
    except TargetError as error:
        findings.append(Finding("target read", str(error), REFUSES))
    if read is not None:
        findings.append(_roles(read, role_order))
    try:
        organization = target.organization()
    except TargetError as error:
        findings.append(Finding("organization users (GET users)", str(error), REFUSES))
        return _finish(target, read, findings, write_email)
    if organization is None:
        findings.append(
            Finding(
                "organization users (GET users)",
                "not listed: who can be assigned is learnt at write time",
                FALLBACK,
            )
        )
    else:
        unlabelled = f", {organization.unlabelled} without e-mail" if organization.unlabelled else ""
        findings.append(
            Finding(
                "organization users (GET users)",
                f"listed: {len(organization.by_key) + organization.unlabelled} user(s){unlabelled}",
                FALLBACK if organization.unlabelled else OK,
            )
        )
    return _finish(target, read, findings, write_email)


def _finish(
    target: TimetrackerTarget, read: TargetRead | None, findings: list[Finding], write_email: str | None
) -> ProbeReport:
    if write_email is not None:
        findings.append(_write(target, read, write_email))
    return ProbeReport(target.settings.url, tuple(findings))


def _versions(target: TimetrackerTarget) -> list[Finding]:
    configured = target.settings.api_version
    status, _ = target.sample(1, 0)
    accepted = [
        v for v in DOCUMENTED_VERSIONS if v == configured or target.sample(1, 0, api_version=v)[0] == 200
    ]
    others = ", ".join(v for v in accepted if v != configured) or "none"
    if status == 200:
        return [Finding("api-version", f"{configured} accepted (also accepted: {others})", OK)]
    return [Finding("api-version", f"{configured} refused (HTTP {status}); accepted: {others}", REFUSES)]


def _paging(target: TimetrackerTarget) -> list[Finding]:
    _, first = target.sample(1, 0)
    _, second = target.sample(1, 1)
    _, encoded = target.sample(1, 0, encoded=True)
    found = []
    if len(first) <= 1:
        found.append(Finding("$count honoured", "yes: $count=1 answered 1 row", OK))
    else:
        found.append(
            Finding(
                "$count honoured",
                f"no: $count=1 answered {len(first)} rows (syncd pages by the rows received)",
                FALLBACK,
            )
        )
    if len(first) >= 1 and len(second) >= 1:
        if first[0] == second[0]:
            found.append(Finding("$skip honoured", "no: $skip=1 answered the first row again", REFUSES))
        else:
            found.append(Finding("$skip honoured", "yes: $skip=1 answered the second row", OK))
    else:
        found.append(Finding("$skip honoured", "not testable: fewer than 2 licensed users", OK))
    if len(first) > 1:
        found.append(Finding("%24count (encoded $)", "not testable: $count itself is ignored", OK))
    elif len(encoded) <= 1:
        found.append(Finding("%24count (encoded $)", "recognised", OK))
    else:
        found.append(
            Finding(
                "%24count (encoded $)",
                f"not recognised ({len(encoded)} rows for %24count=1): syncd sends a literal $",
                FALLBACK,
            )
        )
    return found


def _identity_fields(target: TimetrackerTarget) -> list[Finding]:
    rows = 0
    missing = {"email": 0, "uniqueName": 0, "id": 0}
    domain_names = 0
    try:
        for row in target.raw_rows():
            rows += 1
            user: dict[str, Any] = row.get("user") if isinstance(row.get("user"), dict) else row
            for name in missing:
                if not user.get(name):
                    missing[name] += 1
            if "\\" in str(user.get("uniqueName") or ""):
                domain_names += 1
    except TargetError as error:
        return [Finding("identity fields", f"not read: {error}", REFUSES)]
    text = ", ".join(f"{name} missing on {count} of {rows}" for name, count in missing.items())
    if domain_names:
        text += f"; {domain_names} uniqueName(s) of the form DOMAIN\\user"
    verdict = OK if not any(missing.values()) else FALLBACK
    if missing["email"] and domain_names:
        verdict = FALLBACK  # such seats are counted and left alone; people are matched by e-mail only here
        text += " (rows without an address cannot be matched: their seats are counted and left alone)"
    return [Finding("identity fields", text or "no rows", verdict)]


def _roles(read: TargetRead, role_order: Sequence[str]) -> Finding:
    text, handled = roles_against(read.roles, role_order)
    return Finding("role names", text, FALLBACK if handled else OK)


def _write(target: TimetrackerTarget, read: TargetRead | None, email: str) -> Finding:
    key = normalise_email(email)
    user = read.licensed.get(key) if read is not None and key is not None else None
    if user is None:
        return Finding(
            "write by id (--probe-write)", f"{email} holds no seat syncd can see: nothing sent", REFUSES
        )
    change = Change(
        user.key, user.email, Action.CHANGE, user.role, user.role, Reason("probe"), user.target_id
    )
    (result,) = target.apply([change])
    how = f"by id {user.target_id}" if user.target_id else "by e-mail (the row has no id)"
    if result.outcome is Outcome.SUCCESS:
        after = target.read().licensed.get(user.key)
        if after is not None and after.role == user.role:
            return Finding(
                "write by id (--probe-write)", f"{email}: {user.role} sent again {how}: accepted", OK
            )
    return Finding(
        "write by id (--probe-write)",
        f"{email}: {user.role} sent again {how}: {result.outcome.value} {result.error}".strip(),
        REFUSES,
    )
