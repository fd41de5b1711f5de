"""An emulator of the 7pace Timetracker REST API (the parts syncd uses): a real HTTP(S) server on 127.0.0.1.

Endpoints (docs/contract.md §1, from 7pace's "REST CRUD API Version 3" and its swagger models):
- `GET  {base}/users`        all users of the organisation, paged by `$count` (≤ 500) / `$skip`
- `GET  {base}/users/roles`  licensed users with their role, `includeNoneRoles`, `$count` / `$skip`
- `POST {base}/users/roles`  `{"skipErrors": bool,
                               "users": [{"email"|"id"|"vstsId": …, "role": {"name"|"id": …}}]}`
  → `{"data": {"succeeded": n, "failed": m, "failedEntries": [{"entity": …, "error": {"message": …}}]}}`
where `{base}` is `/api/rest` (cloud, `https://{org}.timehub.7pace.com/api/rest/…`) or
`/api/{Collection}/rest` (on-prem, `http://host:8090/api/DefaultCollection/rest/…`). Every success body
is wrapped in `{"data": …}`. Every request needs `Authorization: Bearer <token>` (401 otherwise; 403 for
`non_admin_tokens`) and an accepted `api-version` (400 otherwise). The quota (10/s and 100/min by
default, sliding windows) answers 429 "Quota exceeded" with `Retry-After`. A seat cap ("Users
Assignable") fails assignments beyond it.

Choices where the vendor documentation is silent (docs/contract.md marks them [U]); each is a field of
`Contract`, so a test can flip it and check that the client does not depend on it (the dialect switches
page_cap … users_listing are the matrix of tests/hardening/test_dialect_matrix.py):
- rows of `users/roles` are flat user objects with `role: {"id", "name"}` (`row_shape="nested"` puts the
  user under "user"; `role_format="name"` sends the role as a bare string);
- `$count` defaults to 500; above 500 is a 400 (`count_over_max="clamp"` clamps instead);
- role names match case-insensitively and are stored in their canonical spelling;
- a POST without `skipErrors: true` is all-or-nothing: any bad entry → 422, nothing applied
  (`atomic_without_skip_errors=False` makes it behave like skipErrors);
- more than 500 entries in one POST → 413 (as 7pace's workLogs/batch does);
- an e-mail unknown to the organisation is a failed entry (`unknown_email="create"` adds the user instead);
- `failedEntries[].entity` echoes the submitted entry;
- assigning the role someone already has is a success and changes nothing;
- the seat cap counts every role other than "None"; a change between two seat-holding roles needs no seat;
  entries are processed in the order given, so an unassign earlier in a batch frees a seat for a later one;
- the quota is per server (not per token), rejected requests do not count against it, and `Retry-After`
  is sent in whole seconds (`retry_after=False` omits it);
- paths match case-insensitively; accepted api-versions: 3.0-preview, 3.0, 3.1, 3.2, 3.2-beta.

Run standalone to rehearse a configuration before pointing syncd at the real tenant:
    python -m syncd.emulators.timetracker --port 8090 --users users.csv [--token T] [--assignable N]
(users file: CSV `email,role[,display_name]`, header optional, or a JSON list of objects with those keys).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from syncd.emulators import standalone
from syncd.emulators.faults import Fault, FaultInjector, Faults
from syncd.emulators.http_server import EmulatorServer, LoggedRequest, Request, Response
from syncd.emulators.served import Served
from syncd.emulators.timetracker_worklogs import WorklogError, WorklogStore
from syncd.identity import normalise_email

NONE_ROLE = "None"
DEFAULT_ROLES = ("Administrator", "Budget", "Product", "Team")
DEFAULT_API_VERSIONS = ("3.0-preview", "3.0", "3.1", "3.2", "3.2-beta")
MAX_COUNT = 500


@dataclass(frozen=True, slots=True)
class EmulatedUser:
    """A user of the emulated organisation. Empty ids are derived from the e-mail, deterministically."""

    email: str
    role: str = NONE_ROLE
    display_name: str = ""
    id: str = ""
    vsts_id: str = ""
    unique_name: str = ""


@dataclass(frozen=True, slots=True)
class Contract:
    """The emulator's answers where 7pace's documentation is silent (see the module docstring)."""

    row_shape: Literal["flat", "nested"] = "flat"
    role_format: Literal["object", "name"] = "object"
    count_over_max: Literal["error", "clamp"] = "error"
    atomic_without_skip_errors: bool = True
    unknown_email: Literal["fail", "create"] = "fail"
    max_batch: int = 500
    retry_after: bool = True
    count_rejected: bool = False
    case_insensitive_paths: bool = True
    # dialects (docs/contract.md): what a real server may do that the documentation leaves open
    page_cap: int = MAX_COUNT  # rows per page at most, whatever `$count` asks ("usually of up to 500 rows")
    count_honoured: bool = True  # False: every page has `page_cap` rows, more than `$count` asked if need be
    skip_honoured: bool = True  # False: `$skip` is ignored, every page starts at the first row
    percent_encoded_names: bool = True  # False: `%24count` / `%24skip` are not recognised (only a literal $)
    email_in_rows: bool = True  # False: rows carry no `email` (the vendor's own samples show none)
    unique_name_form: Literal["email", "domain"] = "email"  # "domain": `CONTOSO\\ann` (on-prem)
    role_case: Literal["canonical", "lower", "upper"] = "canonical"  # the spelling rows carry
    batch_validation: Literal["entry", "whole"] = "entry"  # "whole": one bad entry → 422, nothing applied
    entry_order: Literal["given", "assignments-first"] = "given"  # the order entries of a batch apply in
    users_listing: bool = True  # False: `GET users` answers 404
    include_none_roles: bool = True  # False: `includeNoneRoles=true` is ignored (licensed rows only)


@dataclass(slots=True)
class _User:
    key: str
    email: str
    role: str
    display_name: str
    id: str
    vsts_id: str
    unique_name: str

    def fields(self) -> dict[str, str]:
        return {
            "id": self.id,
            "vstsId": self.vsts_id,
            "uniqueName": self.unique_name,
            "email": self.email,
            "name": self.display_name,
            "displayName": self.display_name,
        }


class _ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class _Quota:
    """Sliding-window request quota: at most `count` accepted requests in any `seconds` window, per window."""

    def __init__(self, windows: Sequence[tuple[int, float]]) -> None:
        self.windows = [(count, seconds, deque[float]()) for count, seconds in windows if count > 0]
        self._lock = threading.Lock()

    def admit(self, now: float, *, count_rejected: bool) -> float | None:
        """Record the request and return None, or return the seconds until it would be admitted."""
        with self._lock:
            wait = 0.0
            for count, seconds, sent in self.windows:
                while sent and now - sent[0] >= seconds:
                    sent.popleft()
                if len(sent) >= count:
                    wait = max(wait, sent[0] + seconds - now)
            if wait > 0 and not count_rejected:
                return wait
            for _, _, sent in self.windows:
                sent.append(now)
            return wait if wait > 0 else None


class TimetrackerEmulator(Served):
    """A running 7pace Timetracker REST API. Use as a context manager, or `start()` / `stop()`.

    `base_url` is what a `[target] url` of the cloud form points at (the server adds `/api/rest`);
    `onprem_url(collection)` gives the on-prem form. Thread-safe; holds 100,000 users comfortably.
    """

    def __init__(
        self,
        users: Iterable[EmulatedUser] | None = None,
        *,
        token: str = "test-token",
        non_admin_tokens: Iterable[str] = (),
        assignable: int | None = None,
        quota_per_second: int | None = 10,
        quota_per_minute: int | None = 100,
        faults: Faults = Faults(),  # noqa: B008 - frozen value
        roles: Sequence[str] = DEFAULT_ROLES,
        api_versions: Sequence[str] = DEFAULT_API_VERSIONS,
        contract: Contract = Contract(),
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        windows_auth: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        # on-prem 7pace: NTLM instead of tokens. pyspnego's NTLM acceptor checks the credentials listed in
        # the file the NTLM_USER_FILE environment variable names ("DOMAIN:user:password" lines)
        self.windows_auth = windows_auth
        self.windows_users: dict[tuple[str, int], str] = {}  # connection → the account it authenticated as
        self._handshakes: dict[tuple[str, int], Any] = {}
        self.non_admin_tokens = frozenset(non_admin_tokens)
        self.assignable = assignable
        self.contract = contract
        self.api_versions = frozenset(api_versions)
        self._roles = {name.casefold(): name for name in (*roles, NONE_ROLE)}
        self._role_ids = {name: _derived_id("role:" + name) for name in self._roles.values()}
        self._roles_by_id = {rid: name for name, rid in self._role_ids.items()}
        self._quota = _Quota([(quota_per_second or 0, 1.0), (quota_per_minute or 0, 60.0)])
        self._injector = FaultInjector(faults)
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._by_id: dict[str, _User] = {}
        self._by_vsts: dict[str, _User] = {}
        self._seated = 0
        self._licensed_cache: list[_User] | None = None
        self._all_cache: list[_User] | None = None
        self.worklogs = WorklogStore()  # GET workLogs/all (issue 18): see timetracker_worklogs
        for user in users or ():
            self.add_user(user)
        self._server = EmulatorServer(self._handle, port=port, ssl_context=ssl_context)

    # -- lifecycle: start/stop/with and base_url (the cloud form, a `[target] url`) come from Served ------
    def onprem_url(self, collection: str = "DefaultCollection") -> str:
        return f"{self._server.base_url}/api/{collection}"

    @property
    def port(self) -> int:
        return self._server.port

    # -- state, for tests and the demo -------------------------------------------------------------------
    def add_user(self, user: EmulatedUser) -> None:
        """Add (or replace) a user of the organisation, with a role. Bypasses the seat cap."""
        self.add_users((user,))

    def add_users(self, users: Iterable[EmulatedUser]) -> None:
        with self._lock:
            for user in users:
                key = normalise_email(user.email)
                if key is None:
                    raise ValueError(f"emulated user needs an e-mail address, got {user.email!r}")
                role = self._role(user.role)
                if role is None:
                    raise ValueError(f"emulated user {user.email}: unknown role {user.role!r}")
                if key in self._users:
                    self._remove(key)
                record = _User(
                    key=key,
                    email=user.email,
                    role=role,
                    display_name=user.display_name or user.email.partition("@")[0],
                    id=user.id or _derived_id("user:" + key),
                    vsts_id=user.vsts_id or _derived_id("vsts:" + key),
                    unique_name=user.unique_name or user.email,
                )
                self._users[key] = record
                self._by_id[record.id.casefold()] = record
                self._by_vsts[record.vsts_id.casefold()] = record
                if role != NONE_ROLE:
                    self._seated += 1
            self._changed()

    def add_role(self, name: str) -> None:
        """Offer one more role (a custom role, "Default"), as an organisation with roles of its own does."""
        with self._lock:
            self._roles[name.casefold()] = name
            self._role_ids[name] = _derived_id("role:" + name)
            self._roles_by_id[self._role_ids[name]] = name

    def remove_user(self, email: str) -> bool:
        """Remove a user from the organisation (they left); True when there was one."""
        with self._lock:
            return self._remove(normalise_email(email) or "")

    def _remove(self, key: str) -> bool:
        record = self._users.pop(key, None)
        if record is None:
            return False
        self._by_id.pop(record.id.casefold(), None)
        self._by_vsts.pop(record.vsts_id.casefold(), None)
        if record.role != NONE_ROLE:
            self._seated -= 1
        self._changed()
        return True

    def set_role(self, email: str, role: str) -> None:
        """Change a role directly (another admin at work), bypassing the API, quota and seat cap."""
        canonical = self._role(role)
        key = normalise_email(email)
        with self._lock:
            record = self._users.get(key or "")
            if record is None or canonical is None:
                raise KeyError(f"no such user or role: {email!r} / {role!r}")
            self._assign(record, canonical)

    def roles_by_email(self, *, include_none: bool = False) -> dict[str, str]:
        """Snapshot: e-mail (as added) → role, for licensed users (and, optionally, the rest)."""
        with self._lock:
            return {u.email: u.role for u in self._users.values() if include_none or u.role != NONE_ROLE}

    @property
    def seated(self) -> int:
        return self._seated

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault knobs (and restart their request numbering and RNG)."""
        self._injector = FaultInjector(faults)

    @property
    def injected(self) -> dict[Fault, int]:
        return dict(self._injector.injected)

    # -- internals ---------------------------------------------------------------------------------------
    def _role(self, name: str) -> str | None:
        return self._roles.get(name.casefold())

    def _changed(self) -> None:
        self._licensed_cache = None
        self._all_cache = None

    def _assign(self, record: _User, role: str) -> None:
        if record.role == role:
            return
        if record.role == NONE_ROLE:
            self._seated += 1
        elif role == NONE_ROLE:
            self._seated -= 1
        record.role = role
        self._licensed_cache = None

    def _handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        kind, _ = self._route(request)
        entries = 0

        def process() -> Response:
            nonlocal entries
            response, entries = self._serve(request, arrived)
            return response

        def log(response: Response | None, fault: Fault | None) -> None:
            status = response.status if response is not None else 0
            fault_name = fault.value if fault else ""
            self._logged(
                LoggedRequest(arrived, request.method, request.path, kind, status, entries, fault_name)
            )

        return self._injector.answer(request, process, log)

    def _route(self, request: Request) -> tuple[str, str | None]:
        """('GET users/roles', 'users/roles') — or ('?', None) when the path is not an API endpoint."""
        path = request.path.rstrip("/")
        if self.contract.case_insensitive_paths:
            path = path.lower()
        parts = path.split("/")
        # cloud: /api/rest/<endpoint>; on-prem: /api/<collection>/rest/<endpoint>
        if len(parts) >= 4 and parts[1] == "api" and parts[2] == "rest":
            endpoint = "/".join(parts[3:])
        elif len(parts) >= 5 and parts[1] == "api" and parts[3] == "rest":
            endpoint = "/".join(parts[4:])
        else:
            return "?", None
        if endpoint not in ("users", "users/roles", "worklogs/all"):
            return "?", None
        return f"{request.method} {endpoint}", endpoint

    def _serve(self, request: Request, arrived: float) -> tuple[Response, int]:
        try:
            return self._dispatch(request, arrived)
        except _ApiError as error:
            return Response.json(error.status, {"error": {"message": str(error)}}, error.headers), 0

    def _dispatch(self, request: Request, arrived: float) -> tuple[Response, int]:
        kind, endpoint = self._route(request)
        if endpoint is None:
            raise _ApiError(404, "Not found")
        auth = request.header("Authorization") or ""
        scheme, _, presented = auth.partition(" ")
        if self.windows_auth:
            self._windows(request, scheme, presented.strip())
        elif scheme.lower() != "bearer" or presented.strip() not in (self.token, *self.non_admin_tokens):
            raise _ApiError(401, "Unauthorized", {"WWW-Authenticate": 'Bearer realm="7pace Timetracker"'})
        if not self.windows_auth and presented.strip() in self.non_admin_tokens:
            raise _ApiError(403, "Access denied. Not enough rights")
        version = request.param("api-version")
        if not version:
            raise _ApiError(400, "The api-version query parameter is required")
        if version not in self.api_versions:
            raise _ApiError(400, f"The requested api-version {version!r} is not supported")
        wait = self._quota.admit(arrived, count_rejected=self.contract.count_rejected)
        if wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.contract.retry_after else {}
            raise _ApiError(429, "Quota exceeded. (10 per second, 100 per minute)", headers)
        if kind == "GET users/roles":
            with_none = _true(request.param("includeNoneRoles")) and self.contract.include_none_roles
            return self._get_page(request, licensed_only=not with_none)
        if kind == "GET users":
            if not self.contract.users_listing:
                raise _ApiError(404, "Not found")
            return self._get_page(request, licensed_only=False, with_role=False)
        if kind == "POST users/roles":
            return self._post_roles(request)
        if kind == "GET worklogs/all":
            return self._get_worklogs(request)
        raise _ApiError(405, f"{request.method} is not allowed here")

    def _windows(self, request: Request, scheme: str, presented: str) -> None:
        """NTLM over HTTP, as IIS does it: a connection authenticates once (negotiate → 401 with the
        challenge → authenticate), then its requests pass; anything else is a 401 offering NTLM."""
        import spnego
        from spnego.exceptions import SpnegoError

        connection = request.client
        with self._lock:
            if connection in self.windows_users:
                return
            if scheme.lower() not in ("ntlm", "negotiate") or not presented:
                self._handshakes.pop(connection, None)
                raise _ApiError(401, "Unauthorized", {"WWW-Authenticate": "NTLM"})
            context = self._handshakes.get(connection)
            if context is None:
                context = self._handshakes[connection] = spnego.server(protocol="ntlm")
            try:
                answer = context.step(base64.b64decode(presented))
            except (SpnegoError, ValueError):
                self._handshakes.pop(connection, None)
                raise _ApiError(401, "Unauthorized", {"WWW-Authenticate": "NTLM"}) from None
            if not context.complete:
                challenge = base64.b64encode(answer or b"").decode()
                raise _ApiError(401, "Unauthorized", {"WWW-Authenticate": f"{scheme} {challenge}"})
            del self._handshakes[connection]
            self.windows_users[connection] = str(context.client_principal)

    def log_work(self, email: str, timestamp: datetime, created: datetime | None = None) -> str:
        """Add a worklog of an existing user (tests, the demo, the bench); returns its id."""
        key = normalise_email(email)
        with self._lock:
            user = self._users.get(key or "")
        if user is None:
            raise ValueError(f"no emulated user {email!r}")
        return self.worklogs.add(user.fields(), timestamp, created)

    def log_work_many(self, entries: Iterable[tuple[str, datetime, datetime]]) -> int:
        """Add many worklogs at once, (email, timestamp, created) each (the bench's 500,000)."""
        fields: dict[str, dict[str, str]] = {}
        rows = []
        with self._lock:
            for email, timestamp, created in entries:
                key = normalise_email(email) or ""
                if key not in fields:
                    user = self._users.get(key)
                    if user is None:
                        raise ValueError(f"no emulated user {email!r}")
                    fields[key] = user.fields()
                rows.append((fields[key], timestamp, created))
        self.worklogs.add_many(rows)
        return len(rows)

    def _get_worklogs(self, request: Request) -> tuple[Response, int]:
        try:
            page = self.worklogs.page({name: request.param(name) for name in request.query})
        except WorklogError as error:
            raise _ApiError(error.status, str(error)) from None
        return Response.json(200, {"data": page}), len(page)

    def _paging(self, request: Request) -> tuple[int, int]:
        contract = self.contract
        encoded = {"%24count", "%24skip"} & {
            part.partition("=")[0].lower() for part in request.raw_query.split("&")
        }
        try:
            count = int(request.param("$count") or MAX_COUNT)
            skip = int(request.param("$skip") or 0)
            if not contract.percent_encoded_names and encoded:
                count = MAX_COUNT if "%24count" in encoded else count
                skip = 0 if "%24skip" in encoded else skip
        except ValueError:
            raise _ApiError(
                400, "Requested information is incomplete or malformed: $count and $skip are integers"
            ) from None
        if count < 1 or skip < 0:
            raise _ApiError(400, "Requested information is incomplete or malformed: $count ≥ 1, $skip ≥ 0")
        if count > MAX_COUNT:
            if contract.count_over_max == "error":
                raise _ApiError(400, f"The maximum value for the $count parameter is {MAX_COUNT}")
            count = MAX_COUNT
        count = contract.page_cap if not contract.count_honoured else min(count, contract.page_cap)
        return count, skip if contract.skip_honoured else 0

    def _get_page(
        self, request: Request, *, licensed_only: bool, with_role: bool = True
    ) -> tuple[Response, int]:
        count, skip = self._paging(request)
        with self._lock:
            if licensed_only:
                if self._licensed_cache is None:
                    self._licensed_cache = [u for u in self._users.values() if u.role != NONE_ROLE]
                rows = self._licensed_cache
            else:
                if self._all_cache is None:
                    self._all_cache = list(self._users.values())
                rows = self._all_cache
            page = [self._row(u) if with_role else self._fields(u) for u in rows[skip : skip + count]]
        return Response.json(200, {"data": page}), len(page)

    def _fields(self, user: _User) -> dict[str, str]:
        fields = user.fields()
        if self.contract.unique_name_form == "domain":
            fields["uniqueName"] = "CONTOSO\\" + user.email.partition("@")[0]
        if not self.contract.email_in_rows:
            del fields["email"]
        return fields

    def _row(self, user: _User) -> dict[str, Any]:
        spelled = {"canonical": user.role, "lower": user.role.lower(), "upper": user.role.upper()}
        name = spelled[self.contract.role_case]
        role: object = (
            {"id": self._role_ids[user.role], "name": name} if self.contract.role_format == "object" else name
        )
        if self.contract.row_shape == "nested":
            return {"user": self._fields(user), "role": role}
        return {**self._fields(user), "role": role}

    def _post_roles(self, request: Request) -> tuple[Response, int]:
        try:
            body = request.json()
        except ValueError:
            raise _ApiError(
                400, "Requested information is incomplete or malformed: the body is not JSON"
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("users"), list):
            raise _ApiError(
                400, 'Requested information is incomplete or malformed: expected {"users": [...]}'
            )
        entries: list[Any] = body["users"]
        if len(entries) > self.contract.max_batch:
            raise _ApiError(413, f"Request can not contains more than {self.contract.max_batch} items.")
        skip_errors = body.get("skipErrors") is True or not self.contract.atomic_without_skip_errors
        if self.contract.batch_validation == "whole":
            skip_errors = False
        if self.contract.entry_order == "assignments-first":
            entries = sorted(entries, key=self._frees_a_seat)
        with self._lock:
            if not skip_errors:
                # all-or-nothing: validate against a trial seat count, apply only if every entry passes
                seated = self._seated
                plan: list[tuple[_User, str]] = []
                for entry in entries:
                    record, role, error = self._check_entry(entry, seated)
                    if error:
                        raise _ApiError(422, f"Validation error: {error}")
                    assert record is not None and role is not None
                    seated += (record.role == NONE_ROLE) - (role == NONE_ROLE) if record.role != role else 0
                    plan.append((record, role))
                for record, role in plan:
                    self._assign(record, role)
                return Response.json(
                    200, {"data": {"succeeded": len(plan), "failed": 0, "failedEntries": []}}
                ), len(entries)
            failed: list[dict[str, Any]] = []
            for entry in entries:
                record, role, error = self._check_entry(entry, self._seated)
                if error:
                    failed.append({"entity": entry, "error": {"message": error}})
                    continue
                assert record is not None and role is not None
                self._assign(record, role)
        data = {"succeeded": len(entries) - len(failed), "failed": len(failed), "failedEntries": failed}
        return Response.json(200, {"data": data}), len(entries)

    def _frees_a_seat(self, entry: object) -> bool:
        """Sort key of the "assignments-first" dialect: entries that release a seat go last."""
        role = entry.get("role") if isinstance(entry, dict) else None
        name = role.get("name") if isinstance(role, dict) else None
        return isinstance(name, str) and name.casefold() == NONE_ROLE.casefold()

    def _check_entry(self, entry: object, seated: int) -> tuple[_User | None, str | None, str]:
        """(user, canonical role, "") or (None, None, why the entry fails). Creates users if so configured."""
        if not isinstance(entry, dict):
            return None, None, "each entry must be an object"
        given = [k for k in ("id", "vstsId", "email") if entry.get(k)]
        if len(given) != 1:
            return None, None, "User can be specified by id, vstsId or email (only one field at a time)"
        role_spec = entry.get("role")
        if not isinstance(role_spec, dict) or len([k for k in ("id", "name") if role_spec.get(k)]) != 1:
            return None, None, "Role can be specified by id or name (only one field at a time)"
        if role_spec.get("name"):
            role = self._role(str(role_spec["name"]))
            if role is None:
                return None, None, f"Role {role_spec['name']!r} does not exist"
        else:
            role = self._roles_by_id.get(str(role_spec["id"]).casefold())
            if role is None:
                return None, None, f"Role id {role_spec['id']!r} does not exist"
        field_name = given[0]
        value = str(entry[field_name])
        record: _User | None
        if field_name == "email":
            key = normalise_email(value)
            if key is None:
                return None, None, f"Email {value!r} is not valid"
            record = self._users.get(key)
            if record is None and self.contract.unknown_email == "create":
                self.add_users((EmulatedUser(email=value),))
                record = self._users[key]
        elif field_name == "id":
            record = self._by_id.get(value.casefold())
        else:
            record = self._by_vsts.get(value.casefold())
        if record is None:
            return None, None, f"User with {field_name} {value!r} is not found in the organization"
        if (
            self.assignable is not None
            and record.role == NONE_ROLE
            and role != NONE_ROLE
            and seated >= self.assignable
        ):
            return None, None, f"No free licenses: all {self.assignable} assignable users are in use"
        return record, role, ""


def _derived_id(text: str) -> str:
    """A stable GUID-shaped id (uuid5 is ten times slower, which shows at 100,000 users)."""
    h = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


# -- standalone ------------------------------------------------------------------------------------------
def load_users(path: Path) -> list[EmulatedUser]:
    """CSV `email,role[,display_name]` (header optional, UTF-8 with or without BOM) or a JSON list."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of users")
        return [_user_from_json(path, i, item) for i, item in enumerate(data)]
    users = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "email":
            continue
        if len(cells) < 2:
            raise ValueError(f"{path}:{number}: expected email,role[,display_name]")
        users.append(
            EmulatedUser(
                email=cells[0], role=cells[1] or NONE_ROLE, display_name=cells[2] if len(cells) > 2 else ""
            )
        )
    return users


def _user_from_json(path: Path, index: int, item: object) -> EmulatedUser:
    if isinstance(item, str):
        return EmulatedUser(email=item, role="Team")
    if not isinstance(item, dict) or not isinstance(item.get("email"), str):
        raise ValueError(f'{path}: entry {index} needs an "email"')
    return EmulatedUser(
        email=item["email"],
        role=str(item.get("role") or NONE_ROLE),
        display_name=str(item.get("display_name") or item.get("displayName") or ""),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = standalone.argument_parser(
        "python -m syncd.emulators.timetracker",
        "Run a 7pace Timetracker REST API emulator on 127.0.0.1 to rehearse a syncd config.",
        users="CSV email,role[,display_name] or a JSON list",
    )
    parser.add_argument(
        "--token", default="test-token", help="the Bearer token to accept (default: test-token)"
    )
    parser.add_argument("--assignable", type=int, help="seat cap (Users Assignable); default: none")
    parser.add_argument("--quota-per-second", type=int, default=10, help="0 = off (default 10)")
    parser.add_argument("--quota-per-minute", type=int, default=100, help="0 = off (default 100)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain, to serve HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    args = parser.parse_args(argv)
    inputs = standalone.users_and_faults(args, load_users)
    if inputs is None:
        return 2
    users, faults = inputs
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    emulator = TimetrackerEmulator(
        users,
        token=args.token,
        assignable=args.assignable,
        quota_per_second=args.quota_per_second,
        quota_per_minute=args.quota_per_minute,
        faults=faults,
        port=args.port,
        ssl_context=context,
    )
    return standalone.serve_until_signal(
        emulator,
        lambda: (
            f"7pace Timetracker emulator listening on {emulator.base_url} "
            f"({len(users)} users, {emulator.seated} licensed); "
            f"on-prem form: {emulator.onprem_url()}; Ctrl-C stops it"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
