"""A Microsoft Graph emulator: the group endpoints the entra source reads (docs/contract.md §3).

- `GET /v1.0/groups/{id}/transitiveMembers` — the flat list of all nested members (users, nested groups,
  devices, service principals, contacts), honouring `$select` (`accountEnabled` only when selected, as Graph
  does), `$top` (capped by `max_page_size`, default 999) and paging by an absolute `@odata.nextLink` with a
  `$skiptoken`; `@odata.count` on the first page only when `$count=true`. Unknown group → 404
  `Request_ResourceNotFound`.
- `GET /v1.0/groups?$filter=displayName eq '…'` (and plain listing with `$top`), `GET /v1.0/groups/{id}`.
- Bearer tokens are checked with `token_check` (usually `AuthorityEmulator.token_check(graph_audience)`);
  a missing or unknown token → 401 `InvalidAuthenticationToken`.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from syncd.emulators.cloud import CloudEmulator, TokenCheck, bearer_token, breadth_first
from syncd.emulators.faults import Faults
from syncd.emulators.http_server import Request, Response

USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"
DEVICE = "#microsoft.graph.device"
SERVICE_PRINCIPAL = "#microsoft.graph.servicePrincipal"
_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$")
_STARTSWITH = re.compile(r"^startswith\(displayName,\s*'((?:[^']|'')*)'\)$")


@dataclass
class EntraDirectory:
    """Users, groups and other directory objects by object id; groups list direct member ids."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)

    def add_user(
        self,
        mail: str | None,
        *,
        upn: str | None = None,
        display_name: str | None = None,
        enabled: bool = True,
        object_id: str | None = None,
    ) -> str:
        object_id = object_id or str(uuid.uuid4())
        self.objects[object_id] = {
            "@odata.type": USER,
            "id": object_id,
            "displayName": display_name or (mail or upn or object_id).split("@")[0],
            "mail": mail,
            "userPrincipalName": upn or mail or f"{object_id}@contoso.onmicrosoft.com",
            "accountEnabled": enabled,
        }
        return object_id

    def add_group(self, display_name: str, *, object_id: str | None = None) -> str:
        object_id = object_id or str(uuid.uuid4())
        self.objects[object_id] = {"@odata.type": GROUP, "id": object_id, "displayName": display_name}
        self.members[object_id] = []
        return object_id

    def add_other(self, kind: str, display_name: str) -> str:
        object_id = str(uuid.uuid4())
        self.objects[object_id] = {"@odata.type": kind, "id": object_id, "displayName": display_name}
        return object_id

    def add_member(self, group_id: str, member_id: str) -> None:
        self.members[group_id].append(member_id)

    def transitive(self, group_id: str) -> list[str]:
        """Every object below `group_id`, once each, nested groups included, in breadth-first order."""
        return breadth_first(group_id, lambda node: self.members.get(node, []))


class GraphEmulator(CloudEmulator):
    def __init__(
        self,
        directory: EntraDirectory,
        *,
        token_check: TokenCheck | None = None,
        max_page_size: int = 999,
        default_page_size: int = 100,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(faults)
        self.directory = directory
        self.token_check = token_check
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size

    def route(self, request: Request) -> Response:
        token = bearer_token(request)
        if token is None or (self.token_check is not None and not self.token_check(token)):
            return _error(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            )
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or len(parts) < 2 or parts[0] != "v1.0" or parts[1] != "groups":
            return _error(400, "BadRequest", f"Resource not found for the segment '{'/'.join(parts[1:2])}'.")
        if len(parts) == 2:
            return self._groups(request)
        group_id = parts[2]
        group = self.directory.objects.get(group_id)
        if group is None or group.get("@odata.type") != GROUP:
            return _error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{group_id}' does not exist or one of its queried reference-property objects "
                "are not present.",
            )
        if len(parts) == 3:
            return Response.json(200, {"@odata.context": self._context("groups/$entity"), **group})
        if len(parts) == 4 and parts[3] == "transitiveMembers":
            return self._transitive(request, group_id)
        return _error(400, "BadRequest", f"Resource not found for the segment '{parts[3]}'.")

    def _groups(self, request: Request) -> Response:
        groups = [o for o in self.directory.objects.values() if o.get("@odata.type") == GROUP]
        text = request.param("$filter")
        if text:
            match = _FILTER.match(text)
            prefix = _STARTSWITH.match(text)
            if match is not None:
                wanted = match.group(1).replace("''", "'")
                groups = [g for g in groups if g["displayName"] == wanted]
            elif prefix is not None:  # Graph's startswith is case-insensitive
                start = prefix.group(1).replace("''", "'").casefold()
                groups = [g for g in groups if g["displayName"].casefold().startswith(start)]
            else:
                return _error(400, "Request_UnsupportedQuery", "Unsupported query.")
        top = int(request.param("$top") or self.default_page_size)
        value = [_project(g, request.param("$select")) for g in groups[:top]]
        return Response.json(200, {"@odata.context": self._context("groups"), "value": value})

    def _transitive(self, request: Request, group_id: str) -> Response:
        ids = self.directory.transitive(group_id)
        top = min(int(request.param("$top") or self.default_page_size), self.max_page_size)
        offset = _decode_skip(request.param("$skiptoken"))
        page = ids[offset : offset + top]
        select = request.param("$select")
        body: dict[str, Any] = {"@odata.context": self._context("directoryObjects")}
        if offset == 0 and (request.param("$count") or "").lower() == "true":
            body["@odata.count"] = len(ids)
        if offset + top < len(ids):
            query = f"$skiptoken={quote(_encode_skip(offset + top))}&$top={top}"
            if select:
                query += f"&$select={quote(select, safe=',')}"
            body["@odata.nextLink"] = f"{self.base_url}/v1.0/groups/{group_id}/transitiveMembers?{query}"
        body["value"] = [_project(self.directory.objects[i], select) for i in page]
        return Response.json(200, body)

    def _context(self, what: str) -> str:
        return f"{self.base_url}/v1.0/$metadata#{what}"


def _project(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    """Graph's projection: the default set without `accountEnabled`, or exactly the selected fields."""
    if select:
        fields = {f.strip() for f in select.split(",")}
        return {k: v for k, v in item.items() if k == "@odata.type" or k in fields}
    return {k: v for k, v in item.items() if k != "accountEnabled"}


def _encode_skip(offset: int) -> str:
    return "X'" + base64.b16encode(f"offset:{offset}".encode()).decode() + "'"


def _decode_skip(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.b16decode(token.strip("X'")).decode().split(":", 1)[1])


def _error(status: int, code: str, message: str) -> Response:
    return Response.json(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": "2026-01-01T00:00:00", "request-id": str(uuid.uuid4())},
            }
        },
    )
