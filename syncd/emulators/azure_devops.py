"""An Azure DevOps emulator: the Graph API of Services and the Identities API of Server
(docs/contract.md §2), over one in-memory directory.

Services, under `/{organization}/_apis/graph/` (any api-version accepted; JSON shapes from the 7.1 examples):
- `GET groups`, `GET users` — paged by `X-MS-ContinuationToken` (`page_size`, default 500 [U]);
  `GET groups/{descriptor}`.
- `GET Memberships/{descriptor}?direction=down` (direction case-insensitive) — one level; paged only when
  `membership_page_size` is set (the real API declares no continuation token: [U], off by default).
- `POST subjectlookup` — `{"lookupKeys": [{"descriptor"}]}` → `{"count", "value": {descriptor: subject}}`;
  more than `max_lookup_keys` keys → 400 [U]. Unknown descriptors are left out of the map.
- Entra groups (`aadgp.`, origin "aad") list only their *materialized* members — the users given when the
  group was added — as Azure DevOps does for users who never signed in.
Server, under `/{collection path}/_apis/identities` (e.g. `/tfs/DefaultCollection`): `descriptors=a,b`
or `searchFilter=General&filterValue=…`, `queryMembership=None|Direct|ExpandedDown` (case-insensitive);
unknown descriptors answer `null` in place. Identities are serialised as the server's IdentityBase is
(EmitDefaultValue = false): `isActive` and `isContainer` appear only when true. Windows (AD) groups
(`add_windows_group`) list only the members of the server's own copy of AD, which may be none at all.

Auth: Basic with a PAT (`pats`); a PAT in `expired_pats` gets a 203 + HTML sign-in page — or a 401 when the
request says `X-TFS-FedAuthRedirect: Suppress` and `honour_suppress` is true; Bearer tokens are checked with
`token_check`. `delay_hint` adds `Retry-After` and `X-RateLimit-*` headers to successful answers (ADO's
"delayed" signal, docs/contract.md §2). Errors use ADO's `{"$id", "message", "typeKey", …}` body.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from syncd.emulators.azure_devops_entitlements import EntitlementContract, entitlements_page
from syncd.emulators.cloud import CloudEmulator, TokenCheck, basic_password, bearer_token, breadth_first
from syncd.emulators.faults import SIGN_IN_PAGE, Faults
from syncd.emulators.graph import EntraDirectory
from syncd.emulators.http_server import Request, Response

_SID = itertools.count(1000)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


@dataclass
class AdoSubject:
    """A user or group as both APIs see it: Graph descriptor + fields, and its Identities descriptor."""

    descriptor: str
    subject_kind: str  # "user" | "group"
    display_name: str
    principal_name: str
    mail: str
    origin: str
    origin_id: str
    domain: str
    identity_descriptor: str
    identity_id: str
    meta_type: str = "member"
    deleted_in_origin: bool = False
    active: bool = True
    members: list[str] = field(default_factory=list)  # Graph descriptors (groups only)

    def graph(self, base: str) -> dict[str, Any]:
        url = f"{base}/_apis/Graph/{'Groups' if self.subject_kind == 'group' else 'Users'}/{self.descriptor}"
        body: dict[str, Any] = {
            "subjectKind": self.subject_kind,
            "domain": self.domain,
            "principalName": self.principal_name,
            "mailAddress": self.mail,
            "origin": self.origin,
            "originId": self.origin_id,
            "displayName": self.display_name,
            "url": url,
            "descriptor": self.descriptor,
            "_links": {
                "self": {"href": url},
                "memberships": {"href": f"{base}/_apis/Graph/Memberships/{self.descriptor}"},
            },
        }
        if self.subject_kind == "user":
            body["metaType"] = self.meta_type
            if self.deleted_in_origin:
                body["isDeletedInOrigin"] = True
        else:
            body["description"] = ""
        return body


@dataclass
class AdoDirectory:
    """An organization (Services) or a collection (Server): its groups, users and who is in what."""

    organization: str = "contoso"
    tenant: str = "45aa3d2d-7442-473d-b4d3-3c670da9dd96"
    subjects: dict[str, AdoSubject] = field(default_factory=dict)
    _by_identity: dict[str, AdoSubject] = field(default_factory=dict, repr=False)

    def _add(self, subject: AdoSubject) -> str:
        self.subjects[subject.descriptor] = subject
        self._by_identity[subject.identity_descriptor.casefold()] = subject
        return subject.descriptor

    def add_group(self, name: str, *, scope: str | None = None) -> str:
        sid = f"S-1-9-1551374245-1204400969-2402986413-2179408616-{next(_SID)}"
        return self._add(
            AdoSubject(
                descriptor=f"vssgp.{_b64(sid)}",
                subject_kind="group",
                display_name=name,
                principal_name=f"[{scope or self.organization}]\\{name}",
                mail="",
                origin="vsts",
                origin_id=str(uuid.uuid4()),
                domain=f"vstfs:///Framework/IdentityDomain/{uuid.uuid5(uuid.NAMESPACE_DNS, scope or '')}",
                identity_descriptor=f"Microsoft.TeamFoundation.Identity;{sid}",
                identity_id=str(uuid.uuid4()),
            )
        )

    def add_entra_group(self, name: str, object_id: str, *, materialized: list[str] | None = None) -> str:
        """An Entra group added to the organization; `materialized` = the member descriptors ADO lists."""
        descriptor = self._add(
            AdoSubject(
                descriptor=f"aadgp.{_b64('1.' + object_id)}",
                subject_kind="group",
                display_name=name,
                principal_name=f"[TEAM FOUNDATION]\\{name}",
                mail="",
                origin="aad",
                origin_id=object_id,
                domain=self.tenant,
                identity_descriptor=f"Microsoft.TeamFoundation.Identity;S-1-9-1551374245-aad-{object_id}",
                identity_id=str(uuid.uuid4()),
            )
        )
        self.subjects[descriptor].members.extend(materialized or [])
        return descriptor

    def add_windows_group(self, name: str, sid: str, *, listed: list[str] | None = None) -> str:
        """An Active Directory group added to a collection (Server), by its SID; `listed` = the members the
        server's periodic AD copy holds (often fewer than AD, or none when the copy is late or failing)."""
        descriptor = self._add(
            AdoSubject(
                descriptor=f"win.{_b64(sid)}",
                subject_kind="group",
                display_name=name,
                principal_name=f"CORP\\{name}",
                mail="",
                origin="ad",
                origin_id=sid,
                domain="CORP",
                identity_descriptor=f"System.Security.Principal.WindowsIdentity;{sid}",
                identity_id=str(uuid.uuid4()),
            )
        )
        self.subjects[descriptor].members.extend(listed or [])
        return descriptor

    def add_user(
        self,
        mail: str,
        *,
        principal_name: str | None = None,
        display_name: str | None = None,
        origin: str = "aad",
        prefix: str = "aad",
        domain: str | None = None,
        meta_type: str = "member",
        deleted: bool = False,
        active: bool = True,
        object_id: str | None = None,
    ) -> str:
        object_id = object_id or str(uuid.uuid4())
        principal = principal_name if principal_name is not None else mail
        if prefix in ("svc", "aadsp", "s2s", "acs", "bnd"):
            identity = f"Microsoft.TeamFoundation.ServiceIdentity;{object_id}:Build:{uuid.uuid4()}"
        elif origin == "ad":
            identity = f"System.Security.Principal.WindowsIdentity;S-1-5-21-1004336348-{next(_SID)}"
        else:
            identity = f"Microsoft.IdentityModel.Claims.ClaimsIdentity;{self.tenant}\\{principal}"
        return self._add(
            AdoSubject(
                descriptor=f"{prefix}.{_b64(object_id)}",
                subject_kind="user",
                display_name=display_name or (mail or principal or object_id).split("@")[0],
                principal_name=principal,
                mail=mail,
                origin=origin,
                origin_id=object_id,
                domain=domain if domain is not None else self.tenant,
                identity_descriptor=identity,
                identity_id=str(uuid.uuid4()),
                meta_type=meta_type,
                deleted_in_origin=deleted,
                active=active,
            )
        )

    def add_service(self, name: str, *, prefix: str = "svc") -> str:
        return self.add_user(
            "",
            principal_name=name,
            display_name=name,
            origin="vsts",
            prefix=prefix,
            domain="Build",
            meta_type="application" if prefix == "aadsp" else "member",
        )

    def add_member(self, group: str, member: str) -> None:
        self.subjects[group].members.append(member)

    def group(self, principal_name: str) -> str:
        for subject in self.subjects.values():
            if subject.principal_name.casefold() == principal_name.casefold():
                return subject.descriptor
        raise KeyError(principal_name)

    # -- Identities view --------------------------------------------------------------------------
    def by_identity(self, identity_descriptor: str) -> AdoSubject | None:
        return self._by_identity.get(identity_descriptor.casefold())

    def transitive(self, descriptor: str) -> list[str]:
        def children(node: str) -> list[str]:
            subject = self.subjects.get(node)
            return subject.members if subject is not None else []

        return breadth_first(descriptor, children)

    def identity(self, subject: AdoSubject, membership: str) -> dict[str, Any]:
        if membership == "direct":
            members = [self.subjects[m].identity_descriptor for m in subject.members if m in self.subjects]
        elif membership == "expandeddown":
            members = [
                self.subjects[m].identity_descriptor
                for m in self.transitive(subject.descriptor)
                if m in self.subjects
            ]
        else:
            members = []
        is_group = subject.subject_kind == "group"
        properties: dict[str, Any] = {
            "SchemaClassName": {"$type": "System.String", "$value": "Group" if is_group else "User"},
            "Account": {
                "$type": "System.String",
                "$value": subject.display_name if is_group else subject.principal_name,
            },
            "Domain": {"$type": "System.String", "$value": subject.domain},
        }
        if not is_group:
            properties["Mail"] = {"$type": "System.String", "$value": subject.mail}
        body: dict[str, Any] = {
            "id": subject.identity_id,
            "descriptor": subject.identity_descriptor,
            "subjectDescriptor": subject.descriptor,
            "providerDisplayName": subject.principal_name if is_group else subject.display_name,
            "members": members if is_group else [],
            "memberOf": [],
            "memberIds": [],
            "properties": properties,
            "resourceVersion": 2,
            "metaTypeId": 255 if is_group else 0,
        }
        # IdentityBase: [DataMember(IsRequired = false, EmitDefaultValue = false)] on IsActive and IsContainer
        if subject.active:
            body["isActive"] = True
        if is_group:
            body["isContainer"] = True
        return body


class AzureDevOpsEmulator(CloudEmulator):
    def __init__(
        self,
        directory: AdoDirectory,
        *,
        pats: set[str] | None = None,
        expired_pats: set[str] | None = None,
        token_check: TokenCheck | None = None,
        collection_path: str = "tfs/DefaultCollection",
        page_size: int = 500,
        membership_page_size: int | None = None,
        max_lookup_keys: int = 1000,
        honour_suppress: bool = True,
        delay_hint: float | None = None,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(faults)
        self.directory = directory
        self.pats = pats or set()
        self.expired_pats = expired_pats or set()
        self.token_check = token_check
        self.collection_path = collection_path.strip("/")
        self.page_size = page_size
        self.membership_page_size = membership_page_size
        self.max_lookup_keys = max_lookup_keys
        self.honour_suppress = honour_suppress
        self.delay_hint = delay_hint
        self.entitlements = EntitlementContract()  # userentitlements (issue 18): lastAccessedDate per mail

    @property
    def collection_url(self) -> str:
        """The Server collection URL to configure as `server_url`."""
        return f"{self.base_url}/{self.collection_path}"

    def route(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        scope, sep, rest = request.path.strip("/").partition("/_apis/")
        if not sep:
            return _error(404, "NotFound", f"no API at {request.path}")
        rest_lower = rest.lower()
        if rest_lower == "identities" and request.method == "GET":
            if scope != self.collection_path and scope != self.directory.organization:
                return _error(404, "CollectionDoesNotExistException", f"collection {scope} does not exist")
            return self._hinted(self._identities(request))
        if scope != self.directory.organization:
            return _error(404, "AccountNotFound", f"organization {scope} does not exist")
        if rest_lower == "userentitlements" and request.method == "GET":  # issue 18: lastAccessedDate
            mails = [s.mail for s in self.directory.subjects.values() if s.subject_kind == "user" and s.mail]
            return self._hinted(entitlements_page(request, mails, self.entitlements))
        base = f"{self.base_url}/{scope}"
        if rest_lower == "graph/groups" and request.method == "GET":
            items = [s for s in self.directory.subjects.values() if s.subject_kind == "group"]
            return self._hinted(self._paged(request, [s.graph(base) for s in items], self.page_size))
        if rest_lower == "graph/users" and request.method == "GET":
            items = [s for s in self.directory.subjects.values() if s.subject_kind == "user"]
            return self._hinted(self._paged(request, [s.graph(base) for s in items], self.page_size))
        if rest_lower.startswith("graph/groups/") and request.method == "GET":
            subject = self.directory.subjects.get(rest.split("/", 2)[2])
            if subject is None or subject.subject_kind != "group":
                return _error(404, "GraphSubjectNotFoundException", "The requested group was not found.")
            return self._hinted(Response.json(200, subject.graph(base)))
        if rest_lower.startswith("graph/memberships/") and request.method == "GET":
            return self._hinted(self._memberships(request, rest.split("/", 2)[2], base))
        if rest_lower == "graph/subjectlookup" and request.method == "POST":
            return self._hinted(self._lookup(request, base))
        return _error(404, "NotFound", f"no API at {request.path}")

    # -- auth -------------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> Response | None:
        pat = basic_password(request)
        if pat is not None and pat in self.pats:
            return None
        token = bearer_token(request)
        if token is not None and self.token_check is not None and self.token_check(token):
            return None
        suppressed = (request.header("X-TFS-FedAuthRedirect") or "").lower() == "suppress"
        if pat is not None and pat in self.expired_pats and not (suppressed and self.honour_suppress):
            return Response.raw(203, SIGN_IN_PAGE, "text/html; charset=utf-8")
        return _error(
            401,
            "UnauthorizedRequestException",
            "TF400813: The user is not authorized to access this resource.",
        )

    # -- Graph ------------------------------------------------------------------------------------
    def _paged(self, request: Request, items: list[dict[str, Any]], size: int) -> Response:
        offset = _offset(request.param("continuationToken"))
        page = items[offset : offset + size]
        headers = {}
        if offset + size < len(items):
            headers["X-MS-ContinuationToken"] = _token(offset + size)
        return Response.json(200, {"count": len(page), "value": page}, headers)

    def _memberships(self, request: Request, descriptor: str, base: str) -> Response:
        subject = self.directory.subjects.get(descriptor)
        if subject is None:
            return _error(404, "GraphSubjectNotFoundException", f"The subject {descriptor} was not found.")
        if (request.param("direction") or "up").lower() != "down":
            return Response.json(200, {"count": 0, "value": []})
        items = [
            {
                "containerDescriptor": descriptor,
                "memberDescriptor": member,
                "_links": {"self": {"href": f"{base}/_apis/Graph/Memberships/{member}/{descriptor}"}},
            }
            for member in subject.members
        ]
        if self.membership_page_size is None:
            return Response.json(200, {"count": len(items), "value": items})
        return self._paged(request, items, self.membership_page_size)

    def _lookup(self, request: Request, base: str) -> Response:
        try:
            keys = [k["descriptor"] for k in request.json()["lookupKeys"]]
        except (ValueError, KeyError, TypeError):
            return _error(400, "InvalidArgumentValueException", "lookupKeys is required")
        if len(keys) > self.max_lookup_keys:
            return _error(
                400,
                "InvalidArgumentValueException",
                f"The number of lookup keys {len(keys)} exceeds the limit {self.max_lookup_keys}.",
            )
        found = {k: self.directory.subjects[k].graph(base) for k in keys if k in self.directory.subjects}
        return Response.json(200, {"count": len(found), "value": found})

    # -- Identities -------------------------------------------------------------------------------
    def _identities(self, request: Request) -> Response:
        membership = (request.param("queryMembership") or "None").lower()
        descriptors = request.param("descriptors")
        if descriptors:
            found: list[dict[str, Any] | None] = []
            for descriptor in descriptors.split(","):
                subject = self.directory.by_identity(descriptor)
                found.append(None if subject is None else self.directory.identity(subject, membership))
            return Response.json(200, {"count": len(found), "value": found})
        if (request.param("searchFilter") or "").lower() == "general":
            wanted = (request.param("filterValue") or "").casefold()
            matches = [
                self.directory.identity(s, membership)
                for s in self.directory.subjects.values()
                if wanted in (s.principal_name.casefold(), s.display_name.casefold(), s.mail.casefold())
            ]
            return Response.json(200, {"count": len(matches), "value": matches})
        return _error(400, "InvalidQueryException", "descriptors, identityIds or searchFilter is required")

    def _hinted(self, response: Response) -> Response:
        if self.delay_hint is None or response.status != 200:
            return response
        extra = (
            ("Retry-After", str(max(1, round(self.delay_hint)))),
            ("X-RateLimit-Resource", "Core"),
            ("X-RateLimit-Delay", f"{self.delay_hint:.3f}"),
            ("X-RateLimit-Limit", "200"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1900000000"),
        )
        return Response(response.status, response.body, response.headers + extra, response.content_type)


def _token(offset: int) -> str:
    return base64.b64encode(f"offset={offset}".encode()).decode("ascii")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.b64decode(token).decode().split("=", 1)[1])


def _error(status: int, type_key: str, message: str) -> Response:
    return Response.json(
        status,
        {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": f"Microsoft.VisualStudio.Services.{type_key}, Microsoft.VisualStudio.Services.WebApi",
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000,
        },
    )


def sample_directory(tenant: str) -> tuple[AdoDirectory, EntraDirectory]:
    """A small organization for dry trials: nested groups, an Entra group, a service identity."""
    entra = EntraDirectory()
    engineering = entra.add_group("Engineering")
    for name in ("dana", "eli", "fay"):
        entra.add_member(engineering, entra.add_user(f"{name}@contoso.com"))
    entra.add_member(engineering, entra.add_user("gus@contoso.com", enabled=False))
    ado = AdoDirectory(organization="contoso", tenant=tenant)
    users = ado.add_group("Timetracker Users")
    leads = ado.add_group("Team Leads")
    ado.add_member(users, leads)
    ado.add_member(users, ado.add_user("ann@contoso.com"))
    ado.add_member(leads, ado.add_user("bob@contoso.com"))
    ado.add_member(leads, ado.add_service("Contoso Build Service"))
    ado.add_member(users, ado.add_entra_group("Engineering", engineering))
    return ado, entra
