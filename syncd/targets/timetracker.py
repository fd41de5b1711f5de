"""7pace Timetracker as the licence target, over its REST CRUD API v3 (docs/contract.md §1).

Reading (§1.3): `GET users/roles` page by page until an **empty** page (a short page is not the end),
with the `$skip`/`$count` guards and page bound of syncd/targets/paging.py, `$` sent literally. The rows
are judged by syncd/target_read.py: a complete read, or TargetReadRefused (partial / inconsistent: no
writes this run, exit 5). Rows are read flat or nested, the role as an object or a bare name; the person is
`email`, else `uniqueName` when it is an address; a seat-holding row with neither is an unmatched seat
(counted, listed, never guessed). `GET users` (§1.4) lists who can be given a seat, read by the cycle only
when someone may need one.

Writing (§1.5): `POST users/roles` with `skipErrors: true`, one per batch the cycle sends (it sends
unassignments in batches of their own, first); people 7pace has are written by the `id` read for them, new
people by e-mail; role names in the server's own spelling. Each entry's fate is read from `failedEntries`
(matched back by the echoed id or e-mail; unmatched failures leave the batch UNKNOWN). A batch refused
whole (400/409/422) is re-read and what did not show is sent again in halves. A POST whose answer is lost
is UNKNOWN for its batch and stops further writes this run (setting a role is idempotent, so the next run
settles it).

Authentication (§1.2): the Bearer API token (cloud), or Windows authentication (NTLM through requests-ntlm
and pyspnego) for on-prem servers, with a user and secret or, on Windows, the running account.

Quota (§1.6): 10 requests/s and 100/min documented; the client-side limiter keeps under both with a small
margin and learns a lower quota from a 429 (adaptive RateLimiter); 0 turns a window off (emulator runs).
`seats()` returns None: no subscription endpoint is documented.

Request economy (issue 8): a full read is floor(seats / page) + 1 GETs (the empty page ends it), a write is
one POST per batch (the cycle sends unassignments in batches of their own), the cycle's verify is one
full read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import structlog

from syncd import __version__
from syncd.config_section import Section
from syncd.errors import TargetAuthFailed, TargetError, TargetProtocolError, TargetUnreachable
from syncd.http import HttpClient, HttpOptions, RateLimiter, RequestStats, quota_windows, read_http_options
from syncd.identity import EmailKey, normalise_email, normalise_identifier
from syncd.models import NONE_ROLE, Change, ChangeResult, LicensedUser, Outcome, SeatInfo
from syncd.pricing import PricingModel
from syncd.secrets import SecretRef
from syncd.target_read import (
    Organization,
    ReadHealth,
    TargetRead,
    TargetReadRefused,
    UnmatchedSeat,
    judge,
)
from syncd.targets.interface import Target, TargetType
from syncd.targets.paging import MAX_USER_PAGES, PagedList

log = structlog.get_logger("syncd.targets.timetracker")

MAX_PAGE = 500  # "The maximum value for the $count parameter is 500" (7pace REST CRUD API v3)
MAX_BATCH = 500
URL_FORMS = "https://<org>.timehub.7pace.com (cloud) or https://<host>:8090/api/<Collection> (on-prem)"
_WRITE_ERRORS = frozenset({400, 409, 413, 422})  # documented refusals of the whole POST (docs/contract.md §1)
DOCUMENTED_VERSIONS = ("3.0-preview", "3.0", "3.1", "3.2", "3.2-beta")  # docs/contract.md §1.1
MAX_REREADS = 3  # re-reads after whole-batch refusals, per run
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
    auth: str = "token"  # "token" (Bearer) | "windows" (Negotiate/NTLM, on-prem)
    user: str = ""  # windows: DOMAIN\\user; empty = the running account's own credentials (Windows only)
    password: SecretRef | None = None  # windows with an explicit user

    @property
    def auth_label(self) -> str:
        if self.auth == "token":
            return "Bearer API token"
        who = self.user or "the running Windows account"
        return f"Windows authentication (NTLM) as {who}"


def api_root(url: str) -> str | None:
    """The REST root for a configured URL, or None when the URL has neither documented form.

    Cloud `https://{org}.timehub.7pace.com` → `…/api/rest/`; on-prem `https://host:8090/api/{Collection}` →
    `…/api/{Collection}/rest/` (docs/contract.md §1). Either may already end in `/rest`, and may sit below a
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
        elif not section.refuse_plain_http(
            "url", url, allowed=allow_http, sends="the API token" if section.has("token") else "credentials"
        ):
            root = found
    # on-prem (Azure DevOps Server) 7pace takes Windows authentication, not tokens (docs/contract.md §1.2):
    # the default follows the URL form, unless a token is configured (a proxy that accepts it)
    onprem = bool(root) and not root.endswith("/api/rest/")
    default_auth = "windows" if onprem and not section.has("token") else "token"
    auth = section.str("auth", default_auth, choices=("token", "windows"))
    token = section.secret("token", required=auth == "token")
    user = section.str("user", None, expected="a Windows account such as 'CONTOSO\\svc-syncd'")
    password = section.secret("password", required=auth == "windows" and bool(user))
    if auth == "windows" and not user and sys.platform != "win32":
        section.error(
            "auth",
            '"windows" without user uses the running account\'s credentials, which only Windows has; '
            "elsewhere set user = 'DOMAIN\\name' and password = { env | file | keyring | credential }",
        )
    if auth == "token" and user:
        section.error("user", 'is read only with auth = "windows"')
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
        auth=auth or "token",
        user=user,
        password=password,
    )


def _credentials(
    settings: TimetrackerSettings,
) -> tuple[Callable[[], str] | None, requests.auth.AuthBase | None, str]:
    """(Authorization header, requests auth handler, what to check when refused) for the configured auth."""
    if settings.auth == "windows":
        # requests-ntlm over pyspnego: with no user it uses the running account's cached credentials
        # (SSPI: a gMSA or service account, no password in any file); otherwise the user and secret given
        from requests_ntlm import HttpNtlmAuth

        password = settings.password.resolve().reveal() if settings.password is not None else None
        handler = HttpNtlmAuth(settings.user or None, password)
        where = (
            f"[target] user = {settings.user!r} and its password" if settings.user else "the running account"
        )
        return None, handler, f"check {where}: it must be a Windows account 7pace Timetracker accepts"
    assert settings.token is not None
    secret = settings.token.resolve()
    hint = (
        f"check {settings.token.where}: it must name a valid, unexpired Timetracker API token "
        "(Timetracker Settings > Reporting & API) of a Timetracker Administrator"
    )
    return lambda: f"Bearer {secret.reveal()}", None, hint


def _looks_like_version(text: str) -> bool:
    number, _, label = text.partition("-")
    major, dot, minor = number.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit() and (not label or label.isalnum())


class TimetrackerTarget:
    """A live connection to one 7pace Timetracker organisation (or on-prem collection)."""

    def __init__(
        self, settings: TimetrackerSettings, *, page_size: int = MAX_PAGE, max_pages: int = MAX_USER_PAGES
    ) -> None:
        if not settings.api_root or (settings.auth == "token" and settings.token is None):
            raise TargetProtocolError("[target] is incomplete: url and token are required")
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}")
        self.settings = settings
        self.page_size = page_size
        self.max_pages = max_pages
        windows = quota_windows(settings.requests_per_second, settings.requests_per_minute)
        header, session_auth, hint = _credentials(settings)
        self._client = HttpClient(
            describe=f"7pace Timetracker at {settings.url}",
            options=settings.http,
            auth_header=header,
            session_auth=session_auth,
            limiter=RateLimiter(windows, adaptive=True) if windows else None,
            unreachable=TargetUnreachable,
            auth_failed=TargetAuthFailed,
            protocol_error=TargetProtocolError,
            auth_hint=hint,
            user_agent=f"syncd/{__version__}",
        )
        self.last_read: TargetRead | None = None
        self._spelling: dict[str, str] = {}  # role name case-folded → the server's spelling
        self._lost: str = ""
        self._rereads = 0

    # -- Target protocol ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "timetracker"

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def read(self, wanted: Collection[EmailKey] | None = None) -> TargetRead:
        """Every seat-holding row of `users/roles`, paged until an empty page and judged (target_read.py):
        a complete read, or TargetReadRefused (partial / inconsistent).

        With `wanted` (people who may need a seat), the same read asks `includeNoneRoles=true` and also
        returns the organization users among them (`TargetRead.organization`): one read instead of this one
        plus `GET users`, never more pages than the two together. A server that answers no "None" row at
        all leaves `organization` None (it may ignore the parameter): the caller then asks `GET users`."""
        seats: list[LicensedUser] = []
        unmatched: list[UnmatchedSeat] = []
        members: dict[EmailKey, LicensedUser] = {}
        unlabelled = none_rows = number = 0
        paged = self._pages("users/roles", "reading licensed users", include_none=wanted is not None)
        convert = self._licensed_user
        for page in paged.pages():
            for row in page:
                item = convert(row, number)
                number += 1
                if isinstance(item, LicensedUser):
                    seats.append(item)
                elif item is not None:
                    unmatched.append(item)
                elif wanted is not None:
                    none_rows += 1
                    fields = _fields(row)
                    if _may_be(fields, wanted):
                        found = _person(fields, NONE_ROLE)
                        if _unlabelled(found):
                            unlabelled += 1
                        if isinstance(found, LicensedUser) and found.key in wanted:
                            members.setdefault(found.key, found)
        read = judge(
            seats,
            unmatched,
            self._client.describe,
            pages=paged.count,
            largest_page=paged.largest,
            notes=paged.notes(),
        )
        if none_rows:
            read = replace(read, organization=Organization(members, unlabelled))
        for name in read.roles:
            self._spelling.setdefault(name.casefold(), name)
        if read.unmatched:
            log.warning(
                "licensed users without a usable e-mail address cannot be matched; their seats are counted "
                "and left alone",
                count=len(read.unmatched),
            )
        self.last_read = read
        return read

    def licensed(self) -> Iterator[LicensedUser]:
        """The matched seat holders of one complete read (`read()` has the rest)."""
        yield from self.read().licensed.values()

    def organization(self, wanted: Collection[EmailKey] | None = None) -> Organization | None:
        """The organization's users (`GET users`, paged like `users/roles`), or None when this server does
        not list them (404/405): then who can be assigned is not known ahead of the write. With `wanted`,
        only those people are kept (a cheap look at each row first: 100,000 rows cost JSON decoding, not
        100,000 LicensedUsers); `unlabelled` still counts every row without an address."""
        by_key: dict[EmailKey, LicensedUser] = {}
        unlabelled = 0
        try:
            for page in self._pages("users", "reading the organization's users").pages():
                for row in page:
                    fields = _fields(row)
                    if wanted is not None and not _may_be(fields, wanted):
                        continue
                    found = _person(fields, NONE_ROLE)
                    if _unlabelled(found):
                        unlabelled += 1
                    if isinstance(found, LicensedUser) and (wanted is None or found.key in wanted):
                        by_key.setdefault(found.key, found)
        except _NotListed as missing:
            log.info("the organization's users cannot be listed", why=str(missing))
            return None
        return Organization(by_key, unlabelled)

    def apply(self, batch: Sequence[Change]) -> list[ChangeResult]:
        """Send one batch as one POST; one result per change, in order. The cycle owns slicing: it sends at
        most `batch_size` changes and keeps unassignments in batches of their own, first, so freeing seats
        never depends on how the server orders a batch (docs/contract.md §1.5). A batch refused whole is
        retried in halves (`_after_refusal`): a retry that isolates one bad entry, not slicing."""
        if self._lost:
            raise TargetUnreachable(f"not sent: an earlier batch lost the connection ({self._lost})")
        if not batch:
            return []
        return self._post(batch)

    def _writes_stopped(self) -> bool:
        return bool(self._lost)

    def seats(self) -> SeatInfo | None:
        """None: 7pace's REST API documents no endpoint for the subscription's "Users Assignable"."""
        return None

    def roles(self) -> tuple[str, ...] | None:
        """None: no roles catalogue endpoint is documented; `last_read.roles` has the roles seen in use."""
        return None

    def notes(self) -> tuple[str, ...]:
        """Nothing beyond the read: what paging noticed travels in `TargetRead.notes`."""
        return ()

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
        return self._client.stats.counts()

    def close(self) -> None:
        self._client.close()

    # -- probing (syncd check --probe) --------------------------------------------------------------------
    def sample(
        self, count: int, skip: int, *, encoded: bool = False, api_version: str | None = None
    ) -> tuple[int, list[Any]]:
        """One page of `users/roles` as asked: (HTTP status, rows). `encoded` sends `%24count`/`%24skip`
        (what a generic client sends) instead of a literal `$`. A 400 (api-version refused) is returned."""
        version = quote(api_version or self.settings.api_version)
        dollar = "%24" if encoded else "$"
        query = f"api-version={version}&{dollar}count={count}&{dollar}skip={skip}"
        response, body = self._client.request(
            "GET",
            f"{self._url('users/roles')}?{query}",
            step=f"probing (GET users/roles, {dollar}count={count}, {dollar}skip={skip})",
            kind="GET users/roles",
            ok_statuses=frozenset({200, 400}),
        )
        if response.status_code != 200:
            return response.status_code, []
        return 200, self._rows(body, "probing")

    def raw_rows(self) -> Iterator[Any]:
        """Every row of `users/roles` as the server sent it (complete paging, with its guards)."""
        for page in self._pages("users/roles", "reading licensed users").pages():
            yield from page

    # -- reading -----------------------------------------------------------------------------------------
    def _url(self, endpoint: str) -> str:
        return self.settings.api_root + endpoint

    def _pages(self, endpoint: str, what: str, *, include_none: bool = False) -> PagedList:
        listing = endpoint == "users"

        def fetch(skip: int) -> list[Any]:
            return self._get_page(
                endpoint, what, skip, not_listed=listing and skip == 0, include_none=include_none
            )

        return PagedList(
            fetch,
            page_size=self.page_size,
            max_pages=self.max_pages,
            describe=self._client.describe,
            what="organization users" if listing else "users",
            identity=_row_identity,
        )

    def _get_page(
        self, endpoint: str, what: str, skip: int, *, not_listed: bool = False, include_none: bool = False
    ) -> list[Any]:
        step = f"{what} (GET {endpoint}, $skip={skip})"
        # `$` literally, not `%24`: one public client reports that 7pace does not recognise `%24count`
        # (what `params=` would send), which would silently turn paging off (docs/contract.md §1.3)
        query = (
            f"api-version={quote(self.settings.api_version)}&$count={self.page_size}&$skip={skip}"
            "&$expand=user.displayName" + ("&includeNoneRoles=true" if include_none else "")
        )
        response, body = self._client.request(
            "GET",
            f"{self._url(endpoint)}?{query}",
            step=step,
            kind=f"GET {endpoint}",
            ok_statuses=frozenset({200, 404, 405}) if not_listed else frozenset({200}),
        )
        if response.status_code in (404, 405):
            raise _NotListed(f"HTTP {response.status_code}")
        return self._rows(body, step)

    def _rows(self, body: object, step: str) -> list[Any]:
        data = body.get("data") if isinstance(body, dict) else body
        if not isinstance(data, list):
            raise TargetProtocolError(
                f'{step}: {self._client.describe} answered without a list of users in "data"; '
                "check [target] url and api_version"
            )
        return data

    def _licensed_user(self, row: object, number: int) -> LicensedUser | UnmatchedSeat | None:
        """A LicensedUser; None for a "None" role; an UnmatchedSeat when there is no usable e-mail.
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
            raise TargetReadRefused(
                ReadHealth.INCONSISTENT,
                self._client.describe,
                f"returned row {number} without a role name, so its seat cannot be told; check [target] "
                "api_version (syncd reads the users/roles rows of api-version 3.x)",
            )
        if role == NONE_ROLE or role.casefold() == _NONE_FOLDED:
            return None
        return _person(user, role)

    def _bad_row(self, number: int, why: str) -> TargetProtocolError:
        return TargetProtocolError(
            f"reading licensed users: row {number} from {self._client.describe} {why}; "
            "check [target] api_version (syncd reads the users/roles rows of api-version 3.x)"
        )

    # -- writing -----------------------------------------------------------------------------------------
    def _entry(self, change: Change) -> dict[str, Any]:
        """People 7pace already has are written by the id read for them (never by an e-mail spelling that
        may differ from 7pace's); only new people by e-mail. Roles in the server's own spelling."""
        role = {"name": self._spelling.get(change.after.casefold(), change.after)}
        if change.target_id:
            return {"id": change.target_id, "role": role}
        return {"email": change.email, "role": role}

    def _post(self, chunk: Sequence[Change], *, resent: bool = False) -> list[ChangeResult]:
        step = f"setting roles (POST users/roles, {len(chunk)} entries)"
        try:
            response, body = self._client.request(
                "POST",
                self._url("users/roles"),
                step=step,
                kind="POST users/roles",
                params={"api-version": self.settings.api_version},
                json_body={"skipErrors": True, "users": [self._entry(c) for c in chunk]},
                ok_statuses=frozenset({200, 201}) | _WRITE_ERRORS,
            )
        except TargetUnreachable as error:
            self._lost = str(error)
            return [ChangeResult(c, Outcome.UNKNOWN, f"the answer was lost: {error}") for c in chunk]
        status = response.status_code
        if status in _WRITE_ERRORS:
            why = f"refused (HTTP {status}): {_error_message(body) or f'HTTP {status}'}"
            if status == 413:  # too large: nothing was applied
                return [ChangeResult(c, Outcome.FAILURE, f"{why}; lower [target] batch_size") for c in chunk]
            return self._after_refusal(chunk, why, resent=resent)
        return self._outcomes(chunk, body)

    def _after_refusal(self, chunk: Sequence[Change], why: str, *, resent: bool) -> list[ChangeResult]:
        """A batch refused as a whole (a server that validates batches whole) may still have been applied
        in part: re-read once and report what shows; what does not show is sent again in halves, so one bad
        entry fails alone instead of taking its batch down every run (log2(batch) more POSTs per bad entry).
        A single entry refused is a failure. At most MAX_REREADS re-reads a run: beyond them, or when the
        re-read fails, the fate is UNKNOWN and the next run settles it from its own read."""
        if len(chunk) == 1 and resent:
            return [ChangeResult(chunk[0], Outcome.FAILURE, why)]
        results: dict[int, ChangeResult] = {}
        if not resent:
            if self._rereads >= MAX_REREADS:
                later = f"{why}; not re-read, the next run settles it"
                return [ChangeResult(c, Outcome.UNKNOWN, later) for c in chunk]
            self._rereads += 1
            try:
                actual = _Shown(self.read().licensed)
            except TargetError as error:
                return [
                    ChangeResult(c, Outcome.UNKNOWN, f"{why}; the re-read failed: {error}") for c in chunk
                ]
            for index, change in enumerate(chunk):
                shown = actual.result(change, why)
                if shown.outcome is Outcome.SUCCESS or len(chunk) == 1:
                    results[index] = shown
        left = [i for i in range(len(chunk)) if i not in results]
        middle = (len(left) + 1) // 2
        for half in (left[:middle], left[middle:]):
            if half and not self._writes_stopped():
                results.update(zip(half, self._post([chunk[i] for i in half], resent=True), strict=True))
        for index in left:
            results.setdefault(
                index,
                ChangeResult(chunk[index], Outcome.FAILURE, "not sent: an earlier batch lost the connection"),
            )
        refused = [i for i in left if results[i].outcome is Outcome.FAILURE]
        if refused and not resent and self._rereads < MAX_REREADS:
            # what the halves' refusals left: one more read says whether 7pace applied it all the same
            self._rereads += 1
            try:
                again = _Shown(self.read().licensed)
            except TargetError:
                return [results[i] for i in range(len(chunk))]
            for index in refused:
                results[index] = again.result(chunk[index], f"{results[index].error}; 7pace shows {{now}}")
        return [results[i] for i in range(len(chunk))]

    def _outcomes(self, chunk: Sequence[Change], body: object) -> list[ChangeResult]:
        data = body.get("data") if isinstance(body, dict) else None
        failed_entries = data.get("failedEntries") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(failed_entries, list | None):
            return [
                ChangeResult(c, Outcome.UNKNOWN, "7pace answered without a readable result; verify will tell")
                for c in chunk
            ]
        failures: dict[str, str] = {}
        unmatched = 0
        sent = {_handle(c) for c in chunk} | {c.key for c in chunk}
        for entry in failed_entries or []:
            found = [handle for handle in _entity_handles(entry) if handle in sent]
            message = _error_message(entry) or "failed without a reason"
            if not found:
                unmatched += 1
            for handle in found:
                failures[handle] = message
        reported = data.get("failed")
        if isinstance(reported, int) and reported > len(failed_entries or []):
            unmatched += reported - len(failed_entries or [])
        results = []
        for change in chunk:
            handle = _handle(change)
            if handle in failures:
                results.append(ChangeResult(change, Outcome.FAILURE, failures[handle]))
            elif change.key in failures:
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


class _NotListed(Exception):
    """`GET users` is not offered by this server."""


def _fields(row: object) -> dict[str, Any]:
    """A row's user fields: flat, or nested under "user"."""
    if not isinstance(row, dict):
        raise TargetProtocolError(f"a row of 7pace's user list is not an object: {str(row)[:80]!r}")
    nested = row.get("user")
    return nested if isinstance(nested, dict) else row


def _row_identity(row: object) -> str:
    if not isinstance(row, dict):
        return ""
    nested = row.get("user")
    user = nested if isinstance(nested, dict) else row
    return str(user.get("id") or user.get("email") or user.get("uniqueName") or "")


def _person(user: dict[str, Any], role: str) -> LicensedUser | UnmatchedSeat:
    """The person a row names: keyed by `email`, else by `uniqueName` when it is an address (cloud sign-in
    names are), else by the unique name as an identifier (issue 16: on-prem `DOMAIN\\user`, which
    `[identity] domain_aliases` can match to a person; the cycle counts it as unmatched when nobody does).
    A row with no name at all is an UnmatchedSeat labelled by what it carries."""
    raw = user.get("email")
    email = raw if isinstance(raw, str) else ""
    unique = str(user.get("uniqueName") or "")
    key = normalise_email(email)
    if key is None:
        key = normalise_email(unique) or normalise_identifier(unique)
        if key is None:
            target_id = str(user.get("id") or "")
            label = unique or str(user.get("displayName") or user.get("name") or "") or target_id or "?"
            return UnmatchedSeat(label, role, target_id)
        email = unique
    return LicensedUser(
        key,
        email,
        role,
        str(user.get("id") or ""),
        str(user.get("displayName") or user.get("name") or ""),
        email if unique == email else unique,  # one string object when they agree (100,000 rows)
        str(user.get("vstsId") or ""),
    )


def _unlabelled(found: LicensedUser | UnmatchedSeat) -> bool:
    """An organization row that carries no address: while there is one, absence from the listing proves
    nothing (that user may be the person, under a `DOMAIN\\user` name)."""
    return isinstance(found, UnmatchedSeat) or "@" not in found.key


def _may_be(user: dict[str, Any], wanted: Collection[EmailKey]) -> bool:
    """False only when the row surely names an address outside `wanted` (ASCII, so case-folding is the
    whole normalisation); rows without an address are kept so they are counted as unlabelled."""
    for name in ("email", "uniqueName"):
        raw = user.get(name)
        if isinstance(raw, str) and "@" in raw:
            quick = raw.strip().casefold()
            return quick in wanted or not quick.isascii()
    return True


class _Shown:
    """A read's rows by key and by 7pace id: a change is judged on the row with its 7pace id when it has
    one (issue 16: a person's key is not always the key their row is listed under), else by key."""

    def __init__(self, actual: Mapping[EmailKey, LicensedUser]) -> None:
        self._actual = actual
        self._by_id: dict[str, LicensedUser] | None = None  # built on first need

    def result(self, change: Change, failure: str) -> ChangeResult:
        """SUCCESS when the read shows `change.after` (absent = "None", any case), else FAILURE with
        `failure` ("{now}" replaced by the role 7pace shows)."""
        user = self._actual.get(change.key)
        if change.target_id and (user is None or user.target_id.casefold() != change.target_id.casefold()):
            if self._by_id is None:
                self._by_id = {u.target_id.casefold(): u for u in self._actual.values() if u.target_id}
            user = self._by_id.get(change.target_id.casefold(), user)
        now = user.role if user else NONE_ROLE
        if now.casefold() == change.after.casefold():
            return ChangeResult(change, Outcome.SUCCESS)
        return ChangeResult(change, Outcome.FAILURE, failure.replace("{now}", now))


def _handle(change: Change) -> str:
    return change.target_id.casefold() if change.target_id else change.key


def _entity_handles(entry: object) -> list[str]:
    """What a failed entry's echo names: its id (case-folded) and/or its e-mail key."""
    if not isinstance(entry, dict):
        return []
    entity = entry.get("entity")
    if not isinstance(entity, dict):
        return []
    user: dict[str, Any] = entity["user"] if isinstance(entity.get("user"), dict) else entity
    found = []
    if user.get("id"):
        found.append(str(user["id"]).casefold())
    for name in ("email", "uniqueName"):
        key = normalise_email(str(user.get(name) or ""))
        if key is not None:
            found.append(key)
            break
    return found


def _error_message(body: object) -> str:
    """7pace errors are {"error": {"message" | "errorDescription"}} (docs/contract.md §1.1): one line."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = str(error.get("message") or error.get("errorDescription") or "")
    elif isinstance(error, str):
        text = error
    else:
        text = ""
    return " ".join(text.split())[:300]


def _open(settings: TimetrackerSettings) -> Target:
    return TimetrackerTarget(settings)


TARGET_TYPE = TargetType(parse=parse_settings, open=_open, pricing_model=PricingModel.SEVENPACE)
