"""TrackingTime as the licence target, over its REST API v4 (docs/contract.md, "TrackingTime REST API v4").

A seat is an active user of one account (workspace): not archived, a pending invitation included (TrackingTime
bills an invitee from the invite, contract T5). Unassigning archives the user ("close"; time entries stay,
never a delete); assigning someone archived re-opens them instead of inviting again; assigning someone
unknown invites them by e-mail with the role. Roles are TrackingTime's literals (`ADMIN`, `PROJECT_MANAGER`,
`CO_WORKER`), listed in `[roles] order`.

Reading: `GET /{account}/users?filter=ALL&page=N&page_size=P` from page 0 until an *empty* page (a short page
is not trusted to be the last). A user id seen twice, a row without `id`/`is_archived`/`role`, or an answer
without a list in `data` stops the read (TargetReadRefused, partial or inconsistent: syncd/target_read.py):
a seat we cannot see must never look like "no seat". One exception, because TrackingTime's paging is
inconsistent per endpoint (contract, paging): when page 1 repeats page 0 exactly and page 0 was not a full
page, the server ignored paging and page 0 was the whole list.

Errors arrive as HTTP 200 with `response.status` ≠ 200 in the envelope (measured by third parties), or as
real HTTP statuses: both are checked. Envelope 429/503 are retried with back-off within the HTTP retry
budget. Envelope 401/403 are credential failures.

Writes are one request per person (close, open, role change) or per ≤ 20 e-mails of one role (invite). An
answer lost in transit is UNKNOWN and stops further writes this run (the next run settles it from the
target). A write the server refused is FAILURE, except that after any refusal the account is read again
once, and a change that shows there is reported as SUCCESS: a retried invite whose first attempt did land
is refused as a duplicate, and must not be reported as not done.

Request economy: a full read is ceil(users / page_size) + 1 GETs (the empty page); a run's writes are one
request per close/open/role change and one per 20 invitations of one role.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

from syncd import __version__
from syncd.config_section import Section
from syncd.errors import TargetAuthFailed, TargetProtocolError, TargetUnreachable
from syncd.http import HttpClient, HttpOptions, RateLimiter, quota_windows, read_http_options
from syncd.identity import EmailKey, normalise_email
from syncd.models import (
    ACTION_ORDER,
    NONE_ROLE,
    Action,
    Change,
    ChangeResult,
    LicensedUser,
    Outcome,
    SeatInfo,
)
from syncd.pricing import PricingModel
from syncd.secrets import SecretRef
from syncd.target_read import Organization, ReadHealth, TargetRead, TargetReadRefused, UnmatchedSeat, judge
from syncd.targets.interface import Target, TargetType
from syncd.targets.paging import MAX_USER_PAGES

log = structlog.get_logger("syncd.targets.trackingtime")

DEFAULT_URL = "https://api.trackingtime.co/api/v4"
DEFAULT_ROLES = ("ADMIN", "PROJECT_MANAGER", "CO_WORKER")  # highest first, as [roles] order wants them
APP_PASSWORD_USER = "API_TOKEN"  # "use the constant string API_TOKEN as the username" (contract, auth)
MAX_INVITE = 20  # "Added limit of 20 users in invite users endpoint" (release notes v4.3.1)
MAX_PAGE_SIZE = 1000
PENDING = "INVITED"
_RETRY_ENVELOPE = frozenset({429, 503})
_ANSWERED = frozenset({200, 201, 400, 404, 409, 422})  # statuses whose envelope says what happened


@dataclass(frozen=True)
class TrackingTimeSettings:
    """The validated `[target]` table for `type = "trackingtime"`."""

    api_url: str  # ".../api/v4", no trailing slash
    account_id: int
    app_password: SecretRef | None = None
    token: SecretRef | None = None  # an OAuth bearer token, instead of the app password
    username: str = APP_PASSWORD_USER
    contact: str = ""
    page_size: int = 200
    batch_size: int = 20
    requests_per_second: int = 3
    requests_per_minute: int = 0
    http: HttpOptions = field(default_factory=HttpOptions)
    type: str = "trackingtime"

    @property
    def url(self) -> str:
        """The account's API root: what identifies this target (issue 21 binds the state to it)."""
        return f"{self.api_url}/{self.account_id}"

    @property
    def organisation(self) -> str:
        return str(self.account_id)


def parse_settings(section: Section) -> TrackingTimeSettings:
    """Read `[target]` (its `type` already read) and finish the section."""
    url = section.url("url", DEFAULT_URL)
    allow_http = section.bool("allow_insecure_http", False)
    if url and (urlsplit(url).query or urlsplit(url).fragment):
        section.error("url", f"{url!r} must be the API root such as {DEFAULT_URL!r}, without ? or #")
        url = ""
    if url and section.refuse_plain_http("url", url, allowed=allow_http, sends="the app password or token"):
        url = ""
    account_id = section.int("account_id", minimum=1)
    app_password = section.secret("app_password", required=False)
    token = section.secret("token", required=False)
    if section.has("app_password") == section.has("token"):
        section.error(
            "app_password",
            "set exactly one of app_password (Settings > Apps & Integrations > App Passwords, of an admin) "
            "or token (an OAuth bearer token)",
        )
    username = section.str("username", APP_PASSWORD_USER, expected='"API_TOKEN" or the admin\'s e-mail')
    contact = section.str("contact", "", expected="an e-mail or URL for the User-Agent", allow_empty=True)
    page_size = section.int("page_size", 200, minimum=1, maximum=MAX_PAGE_SIZE)
    batch_size = section.int("batch_size", 20, minimum=1, maximum=1000)
    per_second = section.int("requests_per_second", 3, minimum=0)
    per_minute = section.int("requests_per_minute", 0, minimum=0)
    http = read_http_options(section)
    section.finish()
    return TrackingTimeSettings(
        api_url=url.rstrip("/"),
        account_id=account_id,
        app_password=app_password,
        token=token,
        username=username or APP_PASSWORD_USER,
        contact=contact,
        page_size=page_size,
        batch_size=batch_size,
        requests_per_second=per_second,
        requests_per_minute=per_minute,
        http=http,
    )


@dataclass(frozen=True, slots=True)
class Member:
    """One user of the account as the last read saw them."""

    id: str
    key: EmailKey
    email: str
    role: str
    archived: bool
    pending: bool
    name: str = ""


@dataclass
class ReadSummary:
    """What the last full read saw, for `syncd check`, the plan's notes and tests."""

    pages: int = 0
    rows: int = 0
    licensed: int = 0
    pending: list[str] = field(default_factory=list)  # e-mails of pending invitations (they hold seats)
    archived: int = 0
    unidentified: int = 0
    largest_page: int = 0
    unpaged: bool = False  # the server ignored paging and answered the whole list at once


@dataclass(frozen=True, slots=True)
class Answer:
    """The envelope of one answer: its status (the body's, else HTTP's), message and data."""

    status: int
    message: str
    data: Any

    @property
    def ok(self) -> bool:
        return self.status == 200


class TrackingTimeTarget:
    """A live connection to one TrackingTime account."""

    def __init__(self, settings: TrackingTimeSettings) -> None:
        secret_ref = settings.token or settings.app_password
        if secret_ref is None or not settings.api_url or not settings.account_id:
            raise TargetProtocolError(
                "[target] is incomplete: account_id and app_password or token are required"
            )
        self.settings = settings
        secret = secret_ref.resolve()
        if settings.token is not None:
            header = lambda: f"Bearer {secret.reveal()}"  # noqa: E731 - bound per request, never stored
        else:
            header = lambda: _basic(settings.username, secret.reveal())  # noqa: E731
        windows = quota_windows(settings.requests_per_second, settings.requests_per_minute)
        contact = f" ({settings.contact})" if settings.contact else ""
        self._client = HttpClient(
            describe=f"TrackingTime account {settings.account_id} at {settings.api_url}",
            options=settings.http,
            auth_header=header,
            limiter=RateLimiter(windows, adaptive=True) if windows else None,
            unreachable=TargetUnreachable,
            auth_failed=TargetAuthFailed,
            protocol_error=TargetProtocolError,
            auth_hint=(
                f"check {secret_ref.where}: it must be a valid app password (or OAuth token) of an "
                f"administrator of account {settings.account_id}"
            ),
            user_agent=f"syncd/{__version__}{contact}",
        )
        self.last_read: ReadSummary | None = None
        self._members: dict[EmailKey, Member] | None = None
        self._lost = ""

    # -- Target protocol ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "trackingtime"

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def read(self, wanted: Collection[EmailKey] | None = None) -> TargetRead:
        """Every user of the account, page by page until an empty page, judged (syncd/target_read.py): the
        active users (pending invitations included) as seats, or TargetReadRefused. `wanted` is not needed:
        anyone can be invited by e-mail, so who is in the account decides only invite or re-open."""
        members: dict[EmailKey, Member] = {}
        summary = ReadSummary()
        seats: list[LicensedUser] = []
        unmatched: list[UnmatchedSeat] = []
        for member in self._read_all(summary):
            if isinstance(member, UnmatchedSeat):
                unmatched.append(member)
                continue
            held = members.get(member.key)
            if held is None or held.archived:
                members[member.key] = member  # an active row wins over an archived one of the same address
            if member.archived:
                summary.archived += 1
                continue
            summary.licensed += 1
            if member.pending:
                summary.pending.append(member.email)
            seats.append(LicensedUser(member.key, member.email, member.role, member.id, member.name))
        summary.unidentified = len(unmatched)
        self._members = members
        self.last_read = summary
        return judge(
            seats,
            unmatched,
            self._client.describe,
            pages=summary.pages,
            largest_page=summary.largest_page,
            notes=self.notes(),
        )

    def licensed(self) -> Iterator[LicensedUser]:
        """The matched seat holders of one complete read (`read()` has the rest)."""
        yield from self.read().licensed.values()

    def organization(self, wanted: Collection[EmailKey] | None = None) -> Organization | None:
        """None: TrackingTime invites by e-mail, so nobody has to be a user of the account beforehand."""
        return None

    def apply(self, batch: Sequence[Change]) -> list[ChangeResult]:
        """One result per change, in order. Archives first, then role changes, then re-opens and invites."""
        if self._lost:
            raise TargetUnreachable(f"not sent: an earlier request lost the connection ({self._lost})")
        members = self._members if self._members is not None else self._directory()
        results: dict[int, ChangeResult] = {}
        invites: dict[str, list[int]] = {}
        refused = False
        for index in sorted(range(len(batch)), key=lambda i: ACTION_ORDER[batch[i].action]):
            change = batch[index]
            known = members.get(change.key)
            if change.action is Action.ASSIGN and known is None:
                invites.setdefault(change.after, []).append(index)
                continue
            if self._writes_stopped():
                results[index] = ChangeResult(
                    change, Outcome.FAILURE, "not sent: an earlier request was lost"
                )
                continue
            results[index] = self._one(change, known)
            refused |= results[index].outcome is Outcome.FAILURE
        for role, indexes in invites.items():
            for start in range(0, len(indexes), MAX_INVITE):
                chunk = indexes[start : start + MAX_INVITE]
                for index, result in zip(chunk, self._invite([batch[i] for i in chunk], role), strict=True):
                    results[index] = result
                    refused |= result.outcome is Outcome.FAILURE
        ordered = [results[i] for i in range(len(batch))]
        if refused and not self._writes_stopped():
            ordered = self._settle_refusals(ordered)
        return ordered

    def _writes_stopped(self) -> bool:
        return bool(self._lost)

    def seats(self) -> SeatInfo | None:
        """None: PRO accounts have no seat cap to read (every added user is billed)."""
        return None

    def roles(self) -> tuple[str, ...] | None:
        """None: the project-manager literal is not documented (contract: roles)."""
        return None

    def notes(self) -> tuple[str, ...]:
        """What the plan should say about the last read: pending invitations hold (billed) seats."""
        pending = self.last_read.pending if self.last_read else []
        if not pending:
            return ()
        shown = ", ".join(sorted(pending)[:5]) + (", …" if len(pending) > 5 else "")
        return (
            f"{len(pending)} TrackingTime seat(s) are pending invitations, counted as paid seats "
            f"(TrackingTime bills from the invite): {shown}",
        )

    def check(self) -> str:
        """One cheap authenticated read (`page_size=1`): proves URL, account, credentials and rights."""
        answer = self._call(
            "GET",
            "users",
            step="checking access (GET users)",
            kind="GET users",
            params={"filter": "ALL", "page": 0, "page_size": 1},
        )
        self._rows(answer, "checking access")
        return f"{self._client.describe}: credentials accepted"

    def request_counts(self) -> dict[str, int]:
        return self._client.stats.counts()

    def close(self) -> None:
        self._client.close()

    # -- reading -----------------------------------------------------------------------------------------
    def _directory(self) -> dict[EmailKey, Member]:
        self.read()
        assert self._members is not None
        return self._members

    def _read_all(self, summary: ReadSummary) -> Iterator[Member | UnmatchedSeat]:
        size = self.settings.page_size
        seen: set[str] = set()
        first: list[str] = []
        for page in range(MAX_USER_PAGES):
            step = f"reading users (GET users, page {page})"
            answer = self._call(
                "GET",
                "users",
                step=step,
                kind="GET users",
                params={"filter": "ALL", "page": page, "page_size": size},
            )
            rows = self._rows(answer, step)
            summary.pages += 1
            summary.largest_page = max(summary.largest_page, len(rows))
            if not rows:
                return
            parsed = [self._member(row, number) for number, row in enumerate(rows)]
            ids = [str(row["id"]) for row in rows]  # every row has one: _member checked
            if page == 0:
                first = ids
            elif page == 1 and ids == first and len(first) != size:
                summary.unpaged = True  # paging ignored: page 0 was the whole list (see module docstring)
                return
            repeated = next((i for i in ids if i in seen), None)
            if repeated is not None:
                raise TargetReadRefused(
                    ReadHealth.PARTIAL,
                    self._client.describe,
                    f"returned user {repeated} again on page {page} (the list moved while it was read, or "
                    "paging is not honoured); run again, or lower [target] page_size if this repeats",
                )
            seen.update(ids)
            summary.rows += len(rows)
            for member in parsed:
                if member is not None:
                    yield member
        raise TargetReadRefused(
            ReadHealth.PARTIAL,
            self._client.describe,
            f"still returned users after {MAX_USER_PAGES} pages, so the list cannot be read completely",
        )

    def _rows(self, answer: Answer, step: str) -> list[Any]:
        if not answer.ok:
            raise TargetProtocolError(
                f"{step}: {self._client.describe} answered status {answer.status}: {answer.message}"
            )
        if not isinstance(answer.data, list):
            raise TargetProtocolError(
                f'{step}: {self._client.describe} answered without a list of users in "data"; '
                "check [target] url (the API root, e.g. https://api.trackingtime.co/api/v4)"
            )
        return answer.data

    def _member(self, row: object, number: int) -> Member | UnmatchedSeat | None:
        """A Member; an UnmatchedSeat for an active user without a usable e-mail (a seat, never guessed);
        None for an archived one without. A row that cannot be told stops the read."""

        def bad(why: str) -> TargetReadRefused:
            return TargetReadRefused(
                ReadHealth.INCONSISTENT,
                self._client.describe,
                f"returned row {number} that {why}, so whether it holds a seat cannot be told",
            )

        if not isinstance(row, dict):
            raise bad("is not an object")
        raw_id = row.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or not str(raw_id).strip():
            raise bad("has no user id")
        archived = row.get("is_archived")
        if not isinstance(archived, bool):
            raise bad("has no is_archived flag")
        role = row.get("role")
        if not isinstance(role, str) or not role.strip():
            raise bad("has no role")
        name = " ".join(str(row.get(k) or "") for k in ("name", "surname")).strip()
        email = row.get("email")
        key = normalise_email(email) if isinstance(email, str) else None
        if key is None or not isinstance(email, str):
            return None if archived else UnmatchedSeat(name or str(raw_id), role.strip(), str(raw_id))
        return Member(str(raw_id), key, email, role.strip(), archived, self._pending(row), name)

    def _pending(self, row: dict[str, Any]) -> bool:
        """Invited, not yet accepted: `status` INVITED on the user, or on this account's entry in `teams`
        (which of the two TrackingTime uses is not documented; contract: users)."""
        if str(row.get("status") or "").upper() == PENDING:
            return True
        teams = row.get("teams")
        if isinstance(teams, list):
            for team in teams:
                if (
                    isinstance(team, dict)
                    and str(team.get("account_id")) == str(self.settings.account_id)
                    and str(team.get("status") or "").upper() == PENDING
                ):
                    return True
        return False

    # -- writing -----------------------------------------------------------------------------------------
    def _one(self, change: Change, known: Member | None) -> ChangeResult:
        if change.action is Action.UNASSIGN:
            if known is None or known.archived:
                return ChangeResult(change, Outcome.SUCCESS)  # holds no seat already
            return self._write(change, "PUT", f"users/close/{known.id}", "PUT users/close", {}, archived=True)
        if known is None or known.archived:
            if change.action is Action.CHANGE:
                return ChangeResult(
                    change, Outcome.FAILURE, "no longer an active user of the account; planned again next run"
                )
            assert known is not None
            reopened = self._write(
                change, "PUT", f"users/open/{known.id}", "PUT users/open", {}, archived=False
            )
            if reopened.outcome is not Outcome.SUCCESS or known.role.casefold() == change.after.casefold():
                return reopened
        if known.role.casefold() == change.after.casefold():
            return ChangeResult(change, Outcome.SUCCESS)
        return self._write(
            change,
            "POST",
            f"users/update_permissions/{known.id}",
            "POST users/update_permissions",
            {"role": change.after},
            role=change.after,
        )

    def _write(
        self,
        change: Change,
        method: str,
        endpoint: str,
        kind: str,
        params: dict[str, str | int],
        *,
        archived: bool | None = None,
        role: str | None = None,
    ) -> ChangeResult:
        step = f"{kind} for {change.email}"
        try:
            answer = self._call(method, endpoint, step=step, kind=kind, params=params)
        except TargetUnreachable as error:
            self._lost = str(error)
            return ChangeResult(change, Outcome.UNKNOWN, f"the answer was lost: {error}")
        except _Unreadable as error:
            return ChangeResult(change, Outcome.UNKNOWN, f"{error}; the next read will tell")
        if not answer.ok:
            return ChangeResult(
                change, Outcome.FAILURE, f"refused (status {answer.status}): {answer.message}"
            )
        self._remember(change, archived=archived, role=role)
        return ChangeResult(change, Outcome.SUCCESS)

    def _invite(self, chunk: Sequence[Change], role: str) -> list[ChangeResult]:
        if self._lost:
            return [ChangeResult(c, Outcome.FAILURE, "not sent: an earlier request was lost") for c in chunk]
        step = f"inviting {len(chunk)} user(s) as {role} (POST users/invite)"
        emails = json.dumps([c.email for c in chunk])
        try:
            answer = self._call(
                "POST",
                "users/invite",
                step=step,
                kind="POST users/invite",
                params={"emails": emails, "role": role},
            )
        except TargetUnreachable as error:
            self._lost = str(error)
            return [ChangeResult(c, Outcome.UNKNOWN, f"the answer was lost: {error}") for c in chunk]
        except _Unreadable as error:
            return [ChangeResult(c, Outcome.UNKNOWN, f"{error}; the next read will tell") for c in chunk]
        if not answer.ok:
            if len(chunk) > 1:
                # one bad address (or one already invited) refuses the whole call: try each alone
                return [result for c in chunk for result in self._invite([c], role)]
            return [
                ChangeResult(
                    chunk[0],
                    Outcome.FAILURE,
                    f"invitation refused (status {answer.status}): {answer.message}",
                )
            ]
        for change in chunk:
            self._remember(change, archived=False, role=role, invited=True)
        return [ChangeResult(c, Outcome.SUCCESS) for c in chunk]

    def _remember(
        self, change: Change, *, archived: bool | None, role: str | None, invited: bool = False
    ) -> None:
        """Keep the directory in step with a write that took, so a later batch in this run sees it."""
        if self._members is None:
            return
        known = self._members.get(change.key)
        if known is None:
            if invited:
                self._members[change.key] = Member(
                    "", change.key, change.email, role or change.after, False, True
                )
            return
        self._members[change.key] = Member(
            known.id,
            known.key,
            known.email,
            role if role is not None else known.role,
            known.archived if archived is None else archived,
            known.pending,
            known.name,
        )

    def _settle_refusals(self, results: list[ChangeResult]) -> list[ChangeResult]:
        """Read the account again and turn refusals that show there into successes (module docstring)."""
        try:
            now = {u.key: u.role for u in self.licensed()}
        except (TargetUnreachable, TargetProtocolError) as error:
            log.warning("could not re-read TrackingTime after a refused write", error=str(error))
            return results
        settled = []
        for result in results:
            change = result.change
            if (
                result.outcome is Outcome.FAILURE
                and now.get(change.key, NONE_ROLE).casefold() == change.after.casefold()
            ):
                log.info("a refused write shows as done", email=change.email, refusal=result.error)
                result = ChangeResult(change, Outcome.SUCCESS)
            settled.append(result)
        return settled

    # -- the envelope ------------------------------------------------------------------------------------
    def _call(
        self, method: str, endpoint: str, *, step: str, kind: str, params: dict[str, str | int]
    ) -> Answer:
        """Send with the HTTP client's retries, then read the envelope; envelope 429/503 are retried here
        with back-off (1, 2, 4 … s) within the same attempt budget. Envelope 401/403 raise TargetAuthFailed.
        An answer without an envelope raises _Unreadable for writes and TargetProtocolError for reads."""
        options = self.settings.http
        started = time.monotonic()
        url = f"{self.settings.url}/{endpoint}"
        for attempt in range(1, options.max_attempts + 1):
            response, body = self._client.request(
                method, url, step=step, kind=kind, params=params, ok_statuses=_ANSWERED
            )
            answer = _envelope(response.status_code, body)
            if answer is None:
                message = f"{step}: {self._client.describe} answered without a TrackingTime envelope"
                if method == "GET":
                    raise TargetProtocolError(message + "; check [target] url")
                raise _Unreadable(message)
            if answer.status in (401, 403):
                raise TargetAuthFailed(
                    f"{step}: {self._client.describe} refused the credentials (status {answer.status}: "
                    f"{answer.message}); user management needs an administrator's app password"
                )
            waited = time.monotonic() - started
            if answer.status not in _RETRY_ENVELOPE or attempt == options.max_attempts:
                if answer.status in _RETRY_ENVELOPE and method == "GET":
                    raise TargetUnreachable(
                        f"{step}: {self._client.describe} still answered status {answer.status} after "
                        f"{attempt} attempt(s) over {waited:.0f} s"
                    )
                return answer
            delay = float(min(30, 2 ** (attempt - 1)))
            if waited + delay > options.max_retry_seconds:
                if method == "GET":
                    raise TargetUnreachable(
                        f"{step}: {self._client.describe} answered status {answer.status}; gave up after "
                        f"{waited:.0f} s"
                    )
                return answer
            self._client.stats.retries += 1
            if answer.status == 429:
                self._client.stats.throttled += 1
                if self._client.limiter is not None:
                    self._client.limiter.throttled(None)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class _Unreadable(Exception):
    """A write was answered, but not with anything that says whether it took."""


def _envelope(http_status: int, body: object) -> Answer | None:
    """`{"response": {"status", "message"}, "data"}`; None when the body is no such envelope."""
    if not isinstance(body, dict):
        return None
    response = body.get("response")
    if not isinstance(response, dict):
        return None
    status = response.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        return None
    if http_status != 200 and status == 200:
        status = http_status  # an HTTP error status wins over an envelope that says ok
    message = " ".join(str(response.get("message") or "").split())[:300]
    return Answer(status, message, body.get("data"))


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _open(settings: TrackingTimeSettings) -> Target:
    return TrackingTimeTarget(settings)


TARGET_TYPE = TargetType(
    parse=parse_settings, open=_open, default_roles=DEFAULT_ROLES, pricing_model=PricingModel.PER_ACTIVE_USER
)
