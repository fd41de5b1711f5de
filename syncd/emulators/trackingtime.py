"""An emulator of the TrackingTime REST API v4 (the user endpoints syncd uses): a real HTTP(S) server on
127.0.0.1. Contract: docs/contract.md, "TrackingTime REST API v4".

Routes (prefix `/api/v4`; an account id after it, else the caller's default account):
- `GET  /users?filter=ACTIVE|ARCHIVED|ALL&page=&page_size=`  users with `id, name, surname, email, role,
  is_archived, status, teams[]` (default filter ACTIVE; zero-based paging only when `page_size` is given)
- `GET  /users/:id`
- `POST /users/invite`  `emails` (JSON array, or a JSON-string of one) and `role`, from the query, a form
  or a JSON body; creates pending users (status INVITED); ≤ 20 e-mails; an e-mail already in the account,
  or an unknown role, refuses the whole call
- `GET|PUT /users/close/:id`, `GET|PUT /users/open/:id`  archive / re-open; the owner cannot be archived;
  POST answers an HTML error page and changes nothing (as a third-party client measured)
- `POST /users/update_permissions/:id`, `POST /users/update/:id`  `role`; the owner's role cannot change
- `GET  /me`, `GET /teams`
Every answer is the envelope `{"response": {"status", "version": "4.0", "message", …}, "data"}`.
Authentication: HTTP Basic with any user name and an app password, or `Authorization: Bearer` with an OAuth
token when `bearer_tokens` are given; a wrong one is a real HTTP 401.

Choices where TrackingTime's documentation is silent ([U] in the contract), each a field of `Contract` so a
test can flip it and show the client does not depend on it:
- `errors`: "envelope" (HTTP 200, the status in the body: what third parties measured) or "http" (the HTTP
  status mirrors a 4xx body status; 500 stays in the body)
- `pm_role`: the project-manager literal, PROJECT_MANAGER or MANAGER
- `pending_in`: "status" (the user's `status` is INVITED) or "teams" (only this account's `teams[]` entry)
- `paging`: "paged" (page/page_size honoured), "unpaged" (every page is the whole list, as /users answered
  one third party), "stuck" (page_size honoured, page ignored: the same first page again)
- `quota_rejection`: "http" (HTTP 429 + envelope 429 + Retry-After) or "envelope" (HTTP 200, envelope 429)
- `archive_pending`: a pending invitee can be archived (True) or not (an envelope 500)
- `close_archived`: closing an archived user is ok (True) or an envelope 500
- `ignore_closes`: close answers ok and changes nothing (to prove read-back verification)

Seats: active = not archived, pending included. `paid_seats` is the billing cycle's high-water mark of active
users, at least `minimum_seats` (the PRO plan "starts at 3 users"); `new_cycle()` starts a cycle.
"""

from __future__ import annotations

import csv
import json
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from syncd.emulators import standalone
from syncd.emulators.faults import Fault, FaultInjector, Faults
from syncd.emulators.http_server import EmulatorServer, LoggedRequest, Request, Response
from syncd.emulators.served import Served
from syncd.identity import normalise_email

ADMIN, PROJECT_MANAGER, CO_WORKER = "ADMIN", "PROJECT_MANAGER", "CO_WORKER"
NONE_ROLE = "None"  # what `roles_by_email` shows for an archived user (no seat), as syncd's models do
MAX_INVITE = 20
ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>HTTP Status 405</h1></body></html>"
)


@dataclass(frozen=True, slots=True)
class Contract:
    """The emulator's answers where TrackingTime's documentation is silent (see the module docstring)."""

    errors: Literal["envelope", "http"] = "envelope"
    pm_role: Literal["PROJECT_MANAGER", "MANAGER"] = "PROJECT_MANAGER"
    pending_in: Literal["status", "teams"] = "status"
    paging: Literal["paged", "unpaged", "stuck"] = "paged"
    quota_rejection: Literal["http", "envelope"] = "http"
    archive_pending: bool = True
    close_archived: bool = True
    ignore_closes: bool = False


@dataclass(frozen=True, slots=True)
class TtUser:
    """A user of the emulated account."""

    email: str
    role: str = CO_WORKER
    archived: bool = False
    pending: bool = False
    owner: bool = False
    name: str = ""


@dataclass(slots=True)
class _User:
    id: int
    key: str
    email: str
    role: str
    archived: bool
    pending: bool
    owner: bool
    name: str


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TrackingTimeEmulator(Served):
    """A running TrackingTime API for one account (`account_id`). Context manager, or `start()` / `stop()`.
    `base_url` + "/api/v4" is what `[target] url` points at."""

    def __init__(
        self,
        users: Iterable[TtUser] = (),
        *,
        account_id: int = 4711,
        app_password: str = "tt-app-password",
        bearer_tokens: Iterable[str] = (),
        non_admin_passwords: Iterable[str] = (),
        contract: Contract = Contract(),
        quota_per_second: int | None = None,
        faults: Faults = Faults(),  # noqa: B008 - frozen value
        minimum_seats: int = 3,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.app_password = app_password
        self.bearer_tokens = frozenset(bearer_tokens)
        self.non_admin_passwords = frozenset(non_admin_passwords)
        self.contract = contract
        self.minimum_seats = minimum_seats
        self.quota_per_second = quota_per_second
        self._sent: list[float] = []
        self._injector = FaultInjector(faults)
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._by_id: dict[int, _User] = {}
        self._next_id = 381455
        self._high_water = 0
        for user in users:
            self.add_user(user)
        self._server = EmulatorServer(self.handle, port=port, ssl_context=ssl_context)

    @property
    def api_url(self) -> str:
        """What `[target] url` is set to: 'http://127.0.0.1:PORT/api/v4'."""
        return self._server.base_url + "/api/v4"

    # -- the account, as an admin in the web app would change it ---------------------------------------
    def add_user(self, user: TtUser) -> None:
        key = normalise_email(user.email)
        if key is None:
            raise ValueError(f"emulated user needs an e-mail address, got {user.email!r}")
        with self._lock:
            old = self._users.pop(key, None)
            if old is not None:
                self._by_id.pop(old.id, None)
            record = _User(
                self._new_id(), key, user.email, user.role, user.archived, user.pending, user.owner, user.name
            )
            self._users[key] = record
            self._by_id[record.id] = record
            self._count_seats()

    def archive(self, email: str) -> None:
        self._record(email).archived = True

    def accept_invite(self, email: str) -> None:
        self._record(email).pending = False

    def set_role(self, email: str, role: str) -> None:
        self._record(email).role = role

    def user(self, email: str) -> TtUser:
        r = self._record(email)
        return TtUser(r.email, r.role, r.archived, r.pending, r.owner, r.name)

    def roles_by_email(self, *, include_none: bool = False) -> dict[str, str]:
        """E-mail → role of every active user (archived ones as "None" with `include_none`)."""
        with self._lock:
            return {
                u.email: NONE_ROLE if u.archived else u.role
                for u in self._users.values()
                if include_none or not u.archived
            }

    @property
    def active(self) -> int:
        with self._lock:
            return sum(1 for u in self._users.values() if not u.archived)

    @property
    def paid_seats(self) -> int:
        """Seats billed this cycle: the high-water mark of active users, at least `minimum_seats`."""
        return max(self.minimum_seats, self._high_water)

    def new_cycle(self) -> None:
        with self._lock:
            self._high_water = self.active

    def set_faults(self, faults: Faults) -> None:
        self._injector = FaultInjector(faults)

    @property
    def token(self) -> str:
        """The app password (named like the 7pace emulator's token, so shared test code can revoke it)."""
        return self.app_password

    @token.setter
    def token(self, value: str) -> None:
        self.app_password = value

    # -- internals ---------------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _record(self, email: str) -> _User:
        with self._lock:
            record = self._users.get(normalise_email(email) or "")
        if record is None:
            raise KeyError(email)
        return record

    def _count_seats(self) -> None:
        self._high_water = max(self._high_water, sum(1 for u in self._users.values() if not u.archived))

    def handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        kind, account, rest = self._route(request)
        served = 0  # the status the envelope carries (HTTP 200 may carry an error)

        def process() -> Response:
            nonlocal served
            response, served = self._serve(request, kind, account, rest, arrived)
            return response

        def log(response: Response | None, fault: Fault | None) -> None:
            # a processed request is logged with its envelope's status, even when the connection is reset
            # after it (it happened); one the fault replaced, with the status of what was sent instead
            status = served or (response.status if response is not None else 0)
            fault_name = fault.value if fault else ""
            self._logged(LoggedRequest(arrived, request.method, request.path, kind, status, fault=fault_name))

        return self._injector.answer(request, process, log)

    def _route(self, request: Request) -> tuple[str, int | None, list[str]]:
        """('GET users', account or None, the path after the account)."""
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] != ["api", "v4"]:
            return "?", None, []
        rest = parts[2:]
        account: int | None = None
        if rest and rest[0].isdigit():
            account, rest = int(rest[0]), rest[1:]
        if (
            rest[:1] == ["users"]
            and len(rest) >= 3
            and rest[1]
            in (
                "close",
                "open",
                "update_permissions",
                "update",
            )
        ):
            kind = f"{request.method} users/{rest[1]}"
        elif rest[:2] == ["users", "invite"]:
            kind = f"{request.method} users/invite"
        elif rest[:1] == ["users"] and len(rest) == 2:
            kind = f"{request.method} users/:id"
        else:
            kind = f"{request.method} {'/'.join(rest)}"
        return kind, account, rest

    def _serve(
        self, request: Request, kind: str, account: int | None, rest: list[str], arrived: float
    ) -> tuple[Response, int]:
        try:
            self._authenticate(request)
            self._admit(arrived)
            if account is not None and account != self.account_id:
                raise _ApiError(403, "You don't have access to this account")
            with self._lock:
                data = self._dispatch(request, kind, rest)
            return self._answer(200, "ok", data), 200
        except _ApiError as error:
            return self._answer(error.status, str(error), {}), error.status
        except _HtmlPage:
            return Response.raw(405, ERROR_PAGE, "text/html; charset=utf-8"), 405

    def _answer(self, status: int, message: str, data: object) -> Response:
        envelope = {
            "response": {
                "status": status,
                "version": "4.0",
                "message": message,
                "note": None,
                "note_type": None,
            },
            "data": data,
        }
        http = 200
        if status == 401:
            http = 401  # a wrong credential fails loudly with a real 401 (measured)
        elif status == 429 and self.contract.quota_rejection == "http":
            return Response.json(429, envelope, {"Retry-After": "1"})
        elif self.contract.errors == "http" and 400 <= status < 500:
            http = status
        return Response.json(http, envelope)

    def _authenticate(self, request: Request) -> None:
        import base64

        header = request.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip() in self.bearer_tokens:
            return
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                password = ""
            if password == self.app_password:
                return
            if password and password in self.non_admin_passwords:
                raise _ApiError(403, "Only admins can manage users")
        raise _ApiError(401, "Invalid credentials")

    def _admit(self, now: float) -> None:
        if not self.quota_per_second:
            return
        with self._lock:
            self._sent = [t for t in self._sent if now - t < 1.0]
            if len(self._sent) >= self.quota_per_second:
                raise _ApiError(429, "Too many requests")
            self._sent.append(now)

    def _dispatch(self, request: Request, kind: str, rest: list[str]) -> object:
        method, _, endpoint = kind.partition(" ")
        params = _params(request)
        if endpoint in ("users/close", "users/open") and method == "POST":
            raise _HtmlPage()
        if kind == "GET users":
            return self._list(params)
        if kind == "GET users/:id":
            return self._json(self._by_path(rest[1]))
        if kind == "POST users/invite":
            return self._invite(params)
        if endpoint in ("users/close", "users/open") and method in ("GET", "PUT"):
            return self._close_open(self._by_path(rest[2]), close=endpoint == "users/close")
        if endpoint in ("users/update_permissions", "users/update") and method == "POST":
            return self._set_role(self._by_path(rest[2]), params.get("role", ""))
        if kind == "GET me":
            return {
                "id": 1,
                "account_id": self.account_id,
                "email": "admin@example.com",
                "teams": [self._team()],
            }
        if kind == "GET teams":
            return [self._team()]
        raise _ApiError(404, f"The endpoint {request.path} doesn't exist")

    def _team(self) -> dict[str, Any]:
        active = self.active
        return {
            "account_id": self.account_id,
            "company": "Emulated",
            "role": ADMIN,
            "status": "VERIFIED",
            "active_users_count": active,
            "archived_users_count": len(self._users) - active,
        }

    def _by_path(self, text: str) -> _User:
        record = self._by_id.get(int(text)) if text.isdigit() else None
        if record is None:
            raise _ApiError(404, f"User {text} not found")
        return record

    def _role(self, text: str) -> str:
        literals = {ADMIN: ADMIN, CO_WORKER: CO_WORKER, self.contract.pm_role: PROJECT_MANAGER}
        role = literals.get(text.strip().upper())
        if role is None:
            raise _ApiError(500, f"Invalid role {text!r}")
        return role

    def _json(self, user: _User) -> dict[str, Any]:
        role = self.contract.pm_role if user.role == PROJECT_MANAGER else user.role
        status = "INVITED" if user.pending else "VERIFIED"
        first, _, last = user.name.partition(" ")
        return {
            "id": user.id,
            "name": first or None,
            "surname": last or None,
            "email": user.email,
            "role": role,
            "is_archived": user.archived,
            "is_owner": user.owner,
            "status": status if self.contract.pending_in == "status" else "VERIFIED",
            "account_id": self.account_id,
            "created_at": "2026-01-05 09:00:00",
            "teams": [
                {"account_id": self.account_id, "status": status, "role": role, "is_archived": user.archived}
            ],
        }

    def _list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = params.get("filter", "ACTIVE").upper()
        if wanted not in ("ACTIVE", "ARCHIVED", "ALL"):
            wanted = "ACTIVE"
        rows = [
            u
            for u in sorted(self._users.values(), key=lambda u: u.id)
            if wanted == "ALL" or u.archived == (wanted == "ARCHIVED")
        ]
        if "page_size" in params and self.contract.paging != "unpaged":
            try:
                size, page = int(params["page_size"]), int(params.get("page", "0") or 0)
            except ValueError:
                raise _ApiError(500, "page and page_size are numbers") from None
            if size < 1 or page < 0:
                raise _ApiError(500, "page ≥ 0 and page_size ≥ 1")
            if self.contract.paging == "stuck":
                page = 0
            rows = rows[page * size : (page + 1) * size]
        return [self._json(u) for u in rows]

    def _invite(self, params: dict[str, str]) -> list[dict[str, Any]]:
        emails = _email_list(params.get("emails", ""))
        if not emails:
            raise _ApiError(500, "emails is required")
        if len(emails) > MAX_INVITE:
            raise _ApiError(500, f"You can invite up to {MAX_INVITE} users at once")
        role = self._role(params.get("role", CO_WORKER))
        keys = []
        for email in emails:
            key = normalise_email(email)
            if key is None:
                raise _ApiError(500, f"{email!r} is not a valid e-mail")
            if key in self._users:
                raise _ApiError(500, f"{email} is already a member of this account")
            keys.append(key)
        created = []
        for key, email in zip(keys, emails, strict=True):
            record = _User(self._new_id(), key, email, role, False, True, False, "")
            self._users[key] = record
            self._by_id[record.id] = record
            created.append(self._json(record))
        self._count_seats()
        return created

    def _close_open(self, user: _User, *, close: bool) -> dict[str, Any]:
        if close:
            if user.owner:
                raise _ApiError(500, "The account owner cannot be archived")
            if user.pending and not self.contract.archive_pending:
                raise _ApiError(500, "Pending invitations cannot be archived; delete the invitation")
            if user.archived and not self.contract.close_archived:
                raise _ApiError(500, "The user is already archived")
            if not self.contract.ignore_closes:
                user.archived = True
        else:
            user.archived = False
            self._count_seats()
        return self._json(user)

    def _set_role(self, user: _User, text: str) -> dict[str, Any]:
        role = self._role(text)
        if user.owner and role != user.role:
            raise _ApiError(500, "The role of the account owner cannot be modified")
        user.role = role
        return self._json(user)


class _HtmlPage(Exception):
    """A wrong method on close/open: TrackingTime answers an HTML error page and changes nothing."""


def _params(request: Request) -> dict[str, str]:
    """Parameters from the query, a form body or a JSON body (the API reads all three)."""
    found = {name: values[0] for name, values in request.query.items() if values}
    if not request.body:
        return found
    content_type = (request.header("Content-Type") or "").lower()
    if "json" in content_type:
        try:
            body = request.json()
        except ValueError:
            raise _ApiError(500, "the body is not JSON") from None
        if isinstance(body, dict):
            found |= {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    else:
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        found |= {name: values[0] for name, values in form.items() if values}
    return found


def _email_list(text: str) -> list[str]:
    """`["a@x","b@x"]`, or a JSON-string of that, or one bare address."""
    value: object = text
    for _ in range(2):
        if isinstance(value, str) and value.strip().startswith(("[", '"')):
            try:
                value = json.loads(value)
            except ValueError:
                break
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return []


def with_contract(emulator: TrackingTimeEmulator, **changes: Any) -> None:
    """Flip [U] choices of a running emulator (tests)."""
    emulator.contract = replace(emulator.contract, **changes)


def load_users(path: Path) -> list[TtUser]:
    """CSV `email,role[,state]` with state empty, `archived`, `pending` or `owner` (header optional)."""
    found = []
    text = path.read_text(encoding="utf-8-sig")
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#") or (number == 1 and cells[0] == "email"):
            continue
        state = cells[2].lower() if len(cells) > 2 else ""
        if state not in ("", "archived", "pending", "owner"):
            raise ValueError(
                f"{path}:{number}: state must be empty, archived, pending or owner, not {state!r}"
            )
        role = cells[1] if len(cells) > 1 and cells[1] else CO_WORKER
        found.append(TtUser(cells[0], role, state == "archived", state == "pending", state == "owner"))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run standalone on 127.0.0.1 to rehearse a `type = "trackingtime"` config."""
    parser = standalone.argument_parser(
        "python -m syncd.emulators.trackingtime",
        "Run a TrackingTime API v4 emulator on 127.0.0.1 to rehearse a syncd config.",
        users="CSV email,role[,archived|pending|owner]",
    )
    parser.add_argument("--account-id", type=int, default=4711, help="the account id (default 4711)")
    parser.add_argument("--app-password", default="tt-app-password", help="the app password to accept")
    args = parser.parse_args(argv)
    inputs = standalone.users_and_faults(args, load_users)
    if inputs is None:
        return 2
    users, faults = inputs
    emulator = TrackingTimeEmulator(
        users, account_id=args.account_id, app_password=args.app_password, faults=faults, port=args.port
    )
    return standalone.serve_until_signal(
        emulator,
        lambda: (
            f'TrackingTime emulator: [target] url = "{emulator.api_url}", account_id = {args.account_id} '
            f"({len(users)} users, {emulator.active} active); Ctrl-C stops it"
        ),
    )


__all__: Sequence[str] = (
    "ADMIN",
    "CO_WORKER",
    "PROJECT_MANAGER",
    "Contract",
    "Fault",
    "Faults",
    "TrackingTimeEmulator",
    "TtUser",
    "with_contract",
)


if __name__ == "__main__":
    sys.exit(main())
