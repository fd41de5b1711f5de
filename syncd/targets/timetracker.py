"""7pace Timetracker as the licence target, over its REST CRUD API v3 (apis.md §1).

Reads `GET users/roles` page by page (`$count` = 500, `$skip` until a short page; rows whose role is "None"
hold no seat and are skipped) and writes `POST users/roles` one batch per call with `skipErrors: true`,
reading each entry's fate from `failedEntries` (an assignment never opened a seat: unassign = role "None").

Contract choices where 7pace's documentation is silent ([U] in apis.md), made so they do not matter:
- Rows are read flat (`{"email", "id", …, "role": {"name"}}`) or nested (`{"user": {…}, "role": …}`), the
  role as an object or a bare name. A row with no role at all stops the read (TargetProtocolError): a seat
  we cannot see must never look like "no seat".
- The e-mail is `email`, else `uniqueName` when it is an address (cloud sign-in names are). Rows with
  neither hold a seat syncd cannot match to anyone: they are counted (`last_read.unidentified`), never
  guessed.
- People are sent by `email` (one identifier per entry, as the API demands); a failed entry is matched
  back by the e-mail its `entity` echoes. Failures that cannot be matched leave every unmatched change of
  that batch UNKNOWN (not SUCCESS): `verify()` or the next run settles them.
- Within one POST, unassignments go first, then role changes, then assignments, so a seat freed in the
  batch can be used by it when the subscription is full.
- A POST whose answer is lost (connection reset, timeouts and 5xx until retries ran out) is UNKNOWN for
  its whole batch; retries are safe because setting a role is idempotent. After such a loss the target
  sends no more writes in this run (`apply` raises TargetUnreachable, nothing sent).
- `seats()` returns None: the REST API documents no subscription endpoint; "Users Assignable" only shows
  as failed entries when the cap is reached.
- Quota: 7pace documents 10 requests/s and 100/min (429 "Quota exceeded"). The client-side limiter keeps
  under both with a small margin for clock jitter and learns a lower quota from a 429 (adaptive
  RateLimiter); `requests_per_second`/`requests_per_minute` = 0 turns that window off (emulator runs).
- Authentication is the Bearer API token. On-prem (Azure DevOps Server) installations authenticate with
  NTLM (apis.md 1.3), which syncd does not speak: the on-prem URL form works behind a proxy that accepts
  the token.

Request economy (issue 8): a full read is ceil(seats / 500) GETs (one more when seats is a multiple of
500: only a short page ends the list), a write is one POST per batch, `verify()` is one full read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from syncd import __version__
from syncd.config_section import Section
from syncd.errors import TargetAuthFailed, TargetProtocolError, TargetUnreachable
from syncd.http import HttpClient, HttpOptions, RateLimiter, RequestStats, read_http_options
from syncd.identity import EmailKey, normalise_email
from syncd.models import NONE_ROLE, Action, Change, ChangeResult, LicensedUser, Outcome, SeatInfo
from syncd.secrets import SecretRef
from syncd.targets.interface import Target, TargetSettings, TargetType

log = structlog.get_logger("syncd.targets.timetracker")

MAX_PAGE = 500  # "The maximum value for the $count parameter is 500" (7pace REST CRUD API v3)
MAX_BATCH = 500
URL_FORMS = "https://<org>.timehub.7pace.com (cloud) or https://<host>:8090/api/<Collection> (on-prem)"
_WRITE_ERRORS = frozenset({400, 409, 413, 422})  # documented refusals of the whole POST (apis.md 1.5)
_ORDER = {Action.UNASSIGN: 0, Action.CHANGE: 1, Action.ASSIGN: 2}
_NONE_FOLDED = NONE_ROLE.casefold()


@dataclass(frozen=True)
class TimetrackerSettings:
    """The validated `[target]` table for `type = "timetracker"`."""

    url: str
    api_root: str  # ".../api/rest/" or ".../api/<Collection>/rest/", always ending in "/"
    token: SecretRef | None
    api_version: str = "3.2"
    batch_size: int = 100
    requests_per_second: int = 10
    requests_per_minute: int = 100
    http: HttpOptions = field(default_factory=HttpOptions)
    type: str = "timetracker"


def api_root(url: str) -> str | None:
    """The REST root for a configured URL, or None when the URL has neither documented form.

    Cloud `https://{org}.timehub.7pace.com` → `…/api/rest/`; on-prem `https://host:8090/api/{Collection}` →
    `…/api/{Collection}/rest/` (apis.md 1.2). Either may already end in `/rest`, and may sit below a
    reverse proxy's path prefix.
    """
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        return None
    segments = [s for s in parts.path.split("/") if s]
    lowered = [s.lower() for s in segments]
    if "api" not in lowered:
        if segments:
            return None
        root = [*segments, "api", "rest"]
    else:
        at = len(lowered) - 1 - lowered[::-1].index("api")
        tail = lowered[at + 1 :]
        if tail == ["rest"]:
            root = segments
        elif len(tail) == 1:
            root = [*segments, "rest"]
        elif len(tail) == 2 and tail[1] == "rest" and tail[0] != "rest":
            root = segments
        else:
            return None
    return urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(root) + "/", "", ""))


def parse_settings(section: Section) -> TimetrackerSettings:
    """Read `[target]` (its `type` already read) and finish the section."""
    url = section.url("url")
    allow_http = section.bool("allow_insecure_http", False)
    root = ""
    if url:
        found = api_root(url)
        if found is None:
            section.error("url", f"{url!r} is not a 7pace Timetracker URL; use {URL_FORMS}")
        elif not section.refuse_plain_http("url", url, allowed=allow_http, sends="the API token"):
            root = found
    token = section.secret("token")
    api_version = section.str("api_version", "3.2", expected="an api-version such as '3.2'")
    if api_version and not _looks_like_version(api_version):
        section.error("api_version", f"{api_version!r} is not an api-version such as '3.2' or '3.0-preview'")
    batch_size = section.int("batch_size", 100, minimum=1, maximum=MAX_BATCH)
    per_second = section.int("requests_per_second", 10, minimum=0)
    per_minute = section.int("requests_per_minute", 100, minimum=0)
    http = read_http_options(section)
    section.finish()
    return TimetrackerSettings(
        url=url,
        api_root=root,
        token=token,
        api_version=api_version or "3.2",
        batch_size=batch_size,
        requests_per_second=per_second,
        requests_per_minute=per_minute,
        http=http,
    )


def _looks_like_version(text: str) -> bool:
    number, _, label = text.partition("-")
    major, dot, minor = number.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit() and (not label or label.isalnum())


def quota_windows(per_second: int, per_minute: int) -> tuple[tuple[int, float], ...]:
    """Limiter windows for the documented quota, each a little longer than the server's so that jitter
    between our clock and its arrival times cannot push a request over (5 % of a second, 1 % of a minute)."""
    windows = [(per_second, 1.05), (per_minute, 60.6)]
    return tuple((count, seconds) for count, seconds in windows if count > 0)


@dataclass
class ReadSummary:
    """What the last full read of `users/roles` saw, for the run summary and `syncd check`."""

    pages: int = 0
    rows: int = 0
    licensed: int = 0
    unidentified: int = 0  # rows holding a seat with no usable e-mail address
    duplicates: int = 0  # the same e-mail twice (shifting pages, or two accounts sharing an address)
    roles: dict[str, int] = field(default_factory=dict)


class TimetrackerTarget:
    """A live connection to one 7pace Timetracker organisation (or on-prem collection)."""

    def __init__(self, settings: TimetrackerSettings, *, page_size: int = MAX_PAGE) -> None:
        if settings.token is None or not settings.api_root:
            raise TargetProtocolError("[target] is incomplete: url and token are required")
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}")
        self.settings = settings
        self.page_size = page_size
        secret = settings.token.resolve()
        windows = quota_windows(settings.requests_per_second, settings.requests_per_minute)
        self._client = HttpClient(
            describe=f"7pace Timetracker at {settings.url}",
            options=settings.http,
            auth_header=lambda: f"Bearer {secret.reveal()}",
            limiter=RateLimiter(windows, adaptive=True) if windows else None,
            unreachable=TargetUnreachable,
            auth_failed=TargetAuthFailed,
            protocol_error=TargetProtocolError,
            auth_hint=(
                f"check {settings.token.where}: it must name a valid, unexpired Timetracker API token "
                "(Timetracker Settings > Reporting & API) of a Timetracker Administrator"
            ),
            user_agent=f"syncd/{__version__}",
        )
        self.last_read: ReadSummary | None = None
        self._lost: str = ""

    # -- Target protocol ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "timetracker"

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def licensed(self) -> Iterator[LicensedUser]:
        """Every user holding a role other than None, each e-mail once, streamed page by page."""
        summary = ReadSummary()
        seen: set[EmailKey] = set()
        skip = 0
        while True:
            rows = self._get_page(skip)
            summary.pages += 1
            summary.rows += len(rows)
            new = 0
            for number, row in enumerate(rows, start=skip):
                user = self._licensed_user(row, number)
                if user is None:
                    continue
                if isinstance(user, str):
                    summary.unidentified += 1
                    continue
                if user.key in seen:
                    summary.duplicates += 1
                    continue
                seen.add(user.key)
                new += 1
                summary.licensed += 1
                summary.roles[user.role] = summary.roles.get(user.role, 0) + 1
                yield user
            if len(rows) < self.page_size:
                break
            if new == 0 and summary.duplicates >= len(rows):
                raise TargetProtocolError(
                    f"reading licensed users: {self._client.describe} returned the same users again for "
                    f"$skip={skip}; it is not paging, so the list cannot be read completely"
                )
            skip += len(rows)
        if summary.unidentified:
            log.warning(
                "licensed users without an e-mail address cannot be matched and are left alone",
                count=summary.unidentified,
            )
        self.last_read = summary

    def apply(self, batch: Sequence[Change]) -> list[ChangeResult]:
        """Send the changes, one POST per `batch_size` of them; one result per change, in order."""
        if self._lost:
            raise TargetUnreachable(f"not sent: an earlier batch lost the connection ({self._lost})")
        results: list[ChangeResult] = []
        size = self.settings.batch_size
        for start in range(0, len(batch), size):
            results.extend(self._post(batch[start : start + size]))
            if self._writes_stopped():
                results.extend(
                    ChangeResult(c, Outcome.FAILURE, "not sent: an earlier batch lost the connection")
                    for c in batch[start + size :]
                )
                break
        return results

    def _writes_stopped(self) -> bool:
        return bool(self._lost)

    def verify(self, changes: Iterable[Change]) -> list[ChangeResult]:
        """Re-read the target (one full read, no per-person requests) and report, per change, whether it
        shows: SUCCESS when the person now holds `after` (absent counts as "None"), FAILURE otherwise.
        Role names compare case-insensitively (7pace stores its own spelling)."""
        wanted = list(changes)
        keys = {c.key for c in wanted}
        actual: dict[EmailKey, str] = {}
        for user in self.licensed():
            if user.key in keys:
                actual[user.key] = user.role
        results = []
        for change in wanted:
            now = actual.get(change.key, NONE_ROLE)
            if now.casefold() == change.after.casefold():
                results.append(ChangeResult(change, Outcome.SUCCESS))
            else:
                results.append(
                    ChangeResult(
                        change, Outcome.FAILURE, f"did not take: 7pace shows {now}, not {change.after}"
                    )
                )
        return results

    def seats(self) -> SeatInfo | None:
        """None: 7pace's REST API documents no endpoint for the subscription's "Users Assignable"."""
        return None

    def roles(self) -> tuple[str, ...] | None:
        """None: no roles catalogue endpoint is documented; `last_read.roles` has the roles seen in use."""
        return None

    def check(self) -> str:
        """One cheap authenticated read (`$count=1`): proves URL, token, rights and api-version."""
        _, body = self._client.request(
            "GET",
            self._url("users/roles"),
            step="checking access (GET users/roles)",
            kind="GET users/roles",
            params={"api-version": self.settings.api_version, "$count": 1, "$skip": 0},
        )
        self._rows(body, "checking access")
        return f"{self._client.describe}: token accepted (api-version {self.settings.api_version})"

    @property
    def http(self) -> HttpClient:
        """The client (and its quota limiter) other readers of this organisation share (worklogs)."""
        return self._client

    @property
    def stats(self) -> RequestStats:
        return self._client.stats

    def request_counts(self) -> dict[str, int]:
        """Requests sent by kind ("GET users/roles", "POST users/roles"), plus 429s seen and retries."""
        stats = self._client.stats
        return {**stats.by_kind, "throttled": stats.throttled, "retries": stats.retries}

    def close(self) -> None:
        self._client.close()

    # -- reading -----------------------------------------------------------------------------------------
    def _url(self, endpoint: str) -> str:
        return self.settings.api_root + endpoint

    def _get_page(self, skip: int) -> list[Any]:
        step = f"reading licensed users (GET users/roles, $skip={skip})"
        _, body = self._client.request(
            "GET",
            self._url("users/roles"),
            step=step,
            kind="GET users/roles",
            params={
                "api-version": self.settings.api_version,
                "$count": self.page_size,
                "$skip": skip,
                "$expand": "user.displayName",
            },
        )
        return self._rows(body, step)

    def _rows(self, body: object, step: str) -> list[Any]:
        data = body.get("data") if isinstance(body, dict) else body
        if not isinstance(data, list):
            raise TargetProtocolError(
                f'{step}: {self._client.describe} answered without a list of users in "data"; '
                "check [target] url and api_version"
            )
        return data

    def _licensed_user(self, row: object, number: int) -> LicensedUser | str | None:
        """A LicensedUser; None for a "None" role; the raw identity text when there is no usable e-mail.
        (Runs once per seat: kept lean, it is most of a 100,000-seat read's CPU after JSON decoding.)"""
        if not isinstance(row, dict):
            raise self._bad_row(number, "is not an object")
        nested = row.get("user")
        user: dict[str, Any] = nested if isinstance(nested, dict) else row
        role = row.get("role")
        if role is None:
            role = user.get("role")
        if isinstance(role, dict):
            role = role.get("name")
        if not isinstance(role, str) or not (role := role.strip()):
            raise self._bad_row(number, "has no role name, so its seat cannot be told")
        if role == NONE_ROLE or role.casefold() == _NONE_FOLDED:
            return None
        raw = user.get("email")
        email = raw if isinstance(raw, str) else ""
        key = normalise_email(email)
        if key is None:
            unique = str(user.get("uniqueName") or "")
            key = normalise_email(unique)
            if key is None:
                return unique or str(user.get("id") or "?")
            email = unique
        return LicensedUser(
            key,
            email,
            role,
            str(user.get("id") or ""),
            str(user.get("displayName") or user.get("name") or ""),
        )

    def _bad_row(self, number: int, why: str) -> TargetProtocolError:
        return TargetProtocolError(
            f"reading licensed users: row {number} from {self._client.describe} {why}; "
            "check [target] api_version (syncd reads the users/roles rows of api-version 3.x)"
        )

    # -- writing -----------------------------------------------------------------------------------------
    def _post(self, chunk: Sequence[Change]) -> list[ChangeResult]:
        order = sorted(range(len(chunk)), key=lambda i: _ORDER[chunk[i].action])
        users = [{"email": chunk[i].email, "role": {"name": chunk[i].after}} for i in order]
        step = f"setting roles (POST users/roles, {len(chunk)} entries)"
        try:
            response, body = self._client.request(
                "POST",
                self._url("users/roles"),
                step=step,
                kind="POST users/roles",
                params={"api-version": self.settings.api_version},
                json_body={"skipErrors": True, "users": users},
                ok_statuses=frozenset({200, 201}) | _WRITE_ERRORS,
            )
        except TargetUnreachable as error:
            self._lost = str(error)
            return [ChangeResult(c, Outcome.UNKNOWN, f"the answer was lost: {error}") for c in chunk]
        status = response.status_code
        if status in _WRITE_ERRORS:
            why = _error_message(body) or f"HTTP {status}"
            hint = "; lower [target] batch_size" if status == 413 else ""
            return [ChangeResult(c, Outcome.FAILURE, f"refused (HTTP {status}): {why}{hint}") for c in chunk]
        return self._outcomes(chunk, body)

    def _outcomes(self, chunk: Sequence[Change], body: object) -> list[ChangeResult]:
        data = body.get("data") if isinstance(body, dict) else None
        failed_entries = data.get("failedEntries") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(failed_entries, list | None):
            return [
                ChangeResult(c, Outcome.UNKNOWN, "7pace answered without a readable result; verify will tell")
                for c in chunk
            ]
        failures: dict[EmailKey, str] = {}
        unmatched = 0
        for entry in failed_entries or []:
            key = _entity_email(entry)
            message = _error_message(entry) or "failed without a reason"
            if key is None:
                unmatched += 1
            else:
                failures[key] = message
        reported = data.get("failed")
        if isinstance(reported, int) and reported > len(failures) + unmatched:
            unmatched += reported - len(failures) - unmatched
        results = []
        for change in chunk:
            if change.key in failures:
                results.append(ChangeResult(change, Outcome.FAILURE, failures[change.key]))
            elif unmatched:
                results.append(
                    ChangeResult(
                        change,
                        Outcome.UNKNOWN,
                        f"{unmatched} failed entries could not be matched to people; verify will tell",
                    )
                )
            else:
                results.append(ChangeResult(change, Outcome.SUCCESS))
        return results


def _entity_email(entry: object) -> EmailKey | None:
    if not isinstance(entry, dict):
        return None
    entity = entry.get("entity")
    if not isinstance(entity, dict):
        return None
    user: dict[str, Any] = entity["user"] if isinstance(entity.get("user"), dict) else entity
    for name in ("email", "uniqueName"):
        key = normalise_email(str(user.get(name) or ""))
        if key is not None:
            return key
    return None


def _error_message(body: object) -> str:
    """7pace errors are {"error": {"message" | "errorDescription"}} (apis.md 1.5); keep it one short line."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = str(error.get("message") or error.get("errorDescription") or "")
    elif isinstance(error, str):
        text = error
    else:
        text = ""
    return " ".join(text.split())[:300]


def _parse(section: Section) -> TargetSettings:
    return parse_settings(section)


def _open(settings: TargetSettings) -> Target:
    if not isinstance(settings, TimetrackerSettings):
        raise TypeError(f"expected TimetrackerSettings, got {type(settings).__name__}")
    return TimetrackerTarget(settings)


TARGET_TYPE = TargetType(parse=_parse, open=_open)
