"""Azure DevOps groups as a membership source: Services through the Graph REST API, Server (on-premises)
through the Identities API (`syncd.sources.azure_devops_server`). This module holds the settings, what both
share and the Services source; `syncd.sources.azure_devops_type` registers the type and opens either (so
neither module imports the other's importer: no circle).

Settings (`[[sources]]`, type = "azure_devops"):
  organization = "contoso"               Azure DevOps Services, or
  server_url = "https://tfs.corp/tfs/DefaultCollection"   Azure DevOps Server: the collection URL
  pat = { env = "SYNCD_ADO_PAT" }        a personal access token (scope Graph: Read / Identity: Read), or
  tenant_id, client_id, client_secret | certificate (+thumbprint) | pfx   a service principal (Services only),
                                         see syncd.entra_auth; authority_url overrides the Entra authority
  expand_entra_with = "aad"              an `entra` source that expands Entra groups nested in ADO groups
  expand_windows_with = "corp"           Server only: an `ldap` source that expands Windows (AD) groups
                                         nested in ADO groups (ADO lists their members from its AD copy)
  vssps_url = "https://vssps.dev.azure.com"   base-URL override (proxies, sovereign clouds, emulators)
  api_version                            default "7.1-preview.1" (Graph) / "5.0" (Server Identities)
  lookup_batch_size = 100                descriptors per subject lookup
  identities_membership = "direct"       Server only: "direct" (own breadth-first walk) or "expandedDown"
  ca_bundle, proxy, timeout              as every HTTPS peer (syncd.http)
  allow_insecure_http = false            http:// server_url / vssps_url only when true (a local emulator)

Group names in rules: a principal name "[Org]\\Group" or "[Project]\\Group" (case-insensitive), a group
descriptor ("vssgp.…", "aadgp.…"; on Server "Microsoft.TeamFoundation.Identity;S-1-9-…"), or a bare display
name when exactly one group in the organization has it. Not found, or a bare name shared by several groups,
is `Health.MISSING` (the detail lists candidates) — never an empty group.

How a group is read (Services), and the decisions on docs/contract.md's [U] items:
- Breadth-first over `graph/Memberships/{descriptor}?direction=down&depth=1` (depth 1 is all the API offers)
  with a visited set, so cycles between groups end. Member descriptors are resolved in batches of
  `lookup_batch_size` through `POST graph/subjectlookup` (max keys per call is [U]; 100 by default). Subjects
  are cached for the life of the source (one cycle), so a person in many groups is looked up once.
- Group listings follow `X-MS-ContinuationToken` ("the only reliable way to know if there is more data").
  Memberships declare no continuation token, but if one arrives it is followed too: ignoring it would be a
  silently short read.
- A user's identity is `mailAddress`, falling back to `principalName`. Service identities are skipped and
  counted in `GroupRead.skipped`: descriptor kinds svc., aadsp., acs., s2s., bnd., `metaType` "application",
  and the "LOCAL AUTHORITY"/"Build" domains. Any other user without a usable address is reported as
  unidentified. `isDeletedInOrigin` users are read as disabled.
- An Entra group inside an ADO group (`aadgp.`, origin "aad") is expanded through the `entra` source named by
  `expand_entra_with` (Microsoft Graph transitiveMembers of its originId), because ADO lists only members that
  have signed in ("materialized"). Without that source, ADO's own (materialized) members are used and the read
  is PARTIAL, so removals it would cause are held. A failed Entra expansion also makes the read PARTIAL.
- `Person.via` is the path of nested groups *below* the configured group, outermost first (principal names);
  a direct member has `via = ()`. A person reached along several paths keeps the shortest (first found).
- A read that cannot finish (retries exhausted mid-read, an answer outside the contract) is Health.ERROR for
  that group. Credentials refused, or the service unreachable before anything was read, raise
  SourceAuthFailed / SourceUnreachable: the whole source is down.
- Throttling: syncd.http honours Retry-After on 429/5xx and on a 200 (ADO's "delay the next request"); the
  X-RateLimit-* headers are logged, not acted upon (Retry-After is what the rate-limits doc says to honour).
- Every request carries `X-TFS-FedAuthRedirect: Suppress` (what ADO's own clients send) so a bad PAT gets 401
  rather than a 203 sign-in page; the 203 + HTML case is recognised anyway (syncd.http).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import structlog

from syncd.config_section import Section
from syncd.entra_auth import (
    AZURE_DEVOPS_SCOPE,
    EntraCredentials,
    EntraTokenProvider,
    read_entra_credentials,
)
from syncd.errors import (
    ConfigError,
    RemoteError,
    SourceAuthFailed,
    SourceProtocolError,
    SourceUnreachable,
)
from syncd.http import HttpClient, HttpOptions, RateLimiter, read_http_options
from syncd.models import GroupRead, Health, Unidentified
from syncd.secrets import Secret, SecretRef
from syncd.sources.interface import Source, SourceLookup
from syncd.sources.members import MAX_PAGES, MemberCollector, did_you_mean, missing, read_with_health

log = structlog.get_logger("syncd.sources.azure_devops")

DEFAULT_VSSPS_URL = "https://vssps.dev.azure.com"
GRAPH_API_VERSION = "7.1-preview.1"  # docs/contract.md §2: Graph groups/users/memberships/subjectlookup
SERVER_API_VERSION = "5.0"  # Azure DevOps Server 2019+ all accept 5.0 for Identities
_ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GRAPH_DESCRIPTOR = re.compile(r"^(vssgp|aadgp)\.[A-Za-z0-9_=-]+$")
SERVICE_DESCRIPTOR_KINDS = frozenset({"svc", "aadsp", "acs", "s2s", "bnd"})
SERVICE_DOMAINS = frozenset({"local authority", "build", "agentpool"})
_FED_AUTH = {"X-TFS-FedAuthRedirect": "Suppress"}
DELETED_IN_ORIGIN = "deleted in its origin directory (isDeletedInOrigin)"


# -- settings -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AzureDevOpsSettings:
    name: str
    where: str
    organization: str | None
    server_url: str | None
    pat: SecretRef | None
    service_principal: EntraCredentials | None
    expand_entra_with: str | None
    vssps_url: str
    api_version: str
    lookup_batch_size: int
    identities_membership: str  # "direct" | "expandedDown" (Server)
    http: HttpOptions
    type: str = "azure_devops"
    expand_windows_with: str | None = None  # Server: an ldap source for Windows groups nested in ADO groups

    @property
    def is_server(self) -> bool:
        return self.server_url is not None


def parse(section: Section, name: str) -> AzureDevOpsSettings:
    organization = section.optional_str("organization", expected="the organization name, e.g. 'contoso'")
    server_url = section.url("server_url", None) or None
    pat = section.secret("pat", required=False)
    principal = read_entra_credentials(section, required=False)
    expand = section.optional_str("expand_entra_with", expected="the name of an entra source")
    expand_windows = section.optional_str("expand_windows_with", expected="the name of an ldap source")
    vssps_url = section.url("vssps_url", DEFAULT_VSSPS_URL) or DEFAULT_VSSPS_URL
    api_version = section.optional_str("api_version", expected="an API version such as '7.1-preview.1'")
    batch = section.int("lookup_batch_size", 100, minimum=1, maximum=1000)
    membership = section.str("identities_membership", "direct", choices=("direct", "expandedDown"))
    http = read_http_options(section)
    allow_http = section.bool("allow_insecure_http", False)
    section.finish()

    for key, url in (("server_url", server_url or ""), ("vssps_url", vssps_url)):
        section.refuse_plain_http(key, url, allowed=allow_http, sends="the credentials")
    if organization and server_url:
        section.error(
            "server_url", "use organization (Azure DevOps Services) or server_url (Server), not both"
        )
    elif not organization and not server_url and not section.has("organization"):
        section.error(
            "organization",
            "required: the Azure DevOps Services organization, or server_url for Azure DevOps Server",
        )
    if organization and not _ORGANIZATION.match(organization):
        section.error(
            "organization",
            f"{organization!r} is not an organization name; write just the name, e.g. 'contoso' (not a URL)",
        )
    if pat is not None and principal is not None:
        section.error("pat", "use pat or a service principal (tenant_id, client_id, …), not both")
    elif pat is None and principal is None and not section.has("pat"):
        section.error("pat", "required: a PAT, or a service principal (tenant_id, client_id, client_secret)")
    if server_url:
        if principal is not None:
            section.error(
                "tenant_id", "Azure DevOps Server takes a PAT; service principals are Services only"
            )
        if section.has("vssps_url"):
            section.error("vssps_url", "only for Azure DevOps Services (organization)")
    else:
        for key in ("identities_membership", "expand_windows_with"):
            if section.has(key):
                section.error(key, "only for Azure DevOps Server (server_url)")
    return AzureDevOpsSettings(
        name=name,
        where=section.at("").rstrip("."),
        organization=organization,
        server_url=server_url,
        pat=pat,
        service_principal=principal,
        expand_entra_with=expand,
        vssps_url=vssps_url,
        api_version=api_version or (SERVER_API_VERSION if server_url else GRAPH_API_VERSION),
        lookup_batch_size=batch,
        identities_membership=membership or "direct",
        http=http,
        expand_windows_with=expand_windows,
    )


# -- shared by Services and Server ---------------------------------------------------------------------
class AzureDevOpsBase:
    """HTTP plumbing, auth, error policy and Entra expansion shared by the Services and Server sources."""

    def __init__(self, settings: AzureDevOpsSettings, lookup: SourceLookup, *, describe: str) -> None:
        self.settings = settings
        self._lookup = lookup
        self._tokens: EntraTokenProvider | None = None
        self._pat: Secret | None = None
        auth: Callable[[], str]
        if settings.service_principal is not None:
            self._tokens = EntraTokenProvider(
                settings.service_principal, settings.http, describe=f"source {settings.name!r}"
            )
            auth = self._tokens.auth_header(AZURE_DEVOPS_SCOPE)
            hint = (
                f"check the service principal in {settings.where} and that it was added to the organization "
                "as a user (Organization settings > Users)"
            )
        else:
            auth = self._basic_auth
            hint = (
                f"check the PAT in {settings.where}.pat: is it expired, and does it have Graph (Read) scope?"
            )
        self.http = HttpClient(
            describe=describe,
            options=settings.http,
            auth_header=auth,
            # no window: the limiter exists so that Retry-After (also on a 200) delays the next request
            limiter=RateLimiter(windows=()),
            unreachable=SourceUnreachable,
            auth_failed=SourceAuthFailed,
            protocol_error=SourceProtocolError,
            auth_hint=hint,
            user_agent="syncd (azure_devops source)",
        )
        self._reached = False
        self._others: dict[str, Source] = {}
        self._expanded: dict[tuple[str, str], GroupRead] = {}
        self._rate_limit_logged = False

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self.http.close()
        if self._tokens is not None:
            self._tokens.close()

    def read_group(self, group: str) -> GroupRead:
        return read_with_health(self.name, group, lambda: self._read(group), reached=lambda: self._reached)

    def _read(self, group: str) -> GroupRead:
        root = self._resolve(group)
        if isinstance(root, GroupRead):
            return root
        collector = MemberCollector()
        self._collect(root, collector)
        return collector.read(self.name, group)

    def _resolve(self, group: str) -> dict[str, Any] | GroupRead:
        """The group's subject (Services) or identity (Server), or the read that says why there is none."""
        raise NotImplementedError

    def _collect(self, root: dict[str, Any], collector: MemberCollector) -> None:
        """Every member of the resolved group `root`, gathered into `collector` the product's way."""
        raise NotImplementedError

    def _basic_auth(self) -> str:
        if self._pat is None:
            assert self.settings.pat is not None
            self._pat = self.settings.pat.resolve()
        # HTTP Basic with an empty user name and the PAT as password (docs/contract.md §2)
        raw = base64.b64encode(f":{self._pat.reveal()}".encode()).decode("ascii")
        return f"Basic {raw}"

    def _call(
        self,
        method: str,
        url: str,
        *,
        step: str,
        kind: str,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        ok_statuses: frozenset[int] = frozenset({200}),
    ) -> tuple[int, Mapping[str, str], Any]:
        response, body = self.http.request(
            method,
            url,
            step=step,
            kind=kind,
            params=params,
            json_body=json_body,
            headers=_FED_AUTH,
            ok_statuses=ok_statuses,
        )
        self._reached = True
        if not self._rate_limit_logged and "X-RateLimit-Delay" in response.headers:
            self._rate_limit_logged = True
            log.info(
                "azure devops is delaying requests",
                source=self.name,
                resource=response.headers.get("X-RateLimit-Resource", ""),
                delay=response.headers.get("X-RateLimit-Delay", ""),
                remaining=response.headers.get("X-RateLimit-Remaining", ""),
            )
        return response.status_code, response.headers, body

    # -- Entra (and, on Server, Windows) groups nested in ADO groups -----------------------------------
    def entra_source(self) -> Source | None:
        return self._other_source("expand_entra_with", self.settings.expand_entra_with)

    def windows_source(self) -> Source | None:
        return self._other_source("expand_windows_with", self.settings.expand_windows_with)

    def _other_source(self, key: str, name: str | None) -> Source | None:
        if name is None:
            return None
        if name not in self._others:
            try:
                self._others[name] = self._lookup(name)
            except (KeyError, LookupError):
                raise ConfigError(f"{self.settings.where}.{key}: no [[sources]] named {name!r}") from None
        return self._others[name]

    def expand_entra_group(
        self, entra: Source, object_id: str, label: str, via: tuple[str, ...], into: MemberCollector
    ) -> None:
        """Add the members of Entra group `object_id` (read through `entra`) to `into`, or mark it partial."""
        self.expand_group(entra, object_id, f"Entra group {label}", via, into)

    def expand_group(
        self, other: Source, group: str, label: str, via: tuple[str, ...], into: MemberCollector
    ) -> None:
        """Add the members of `group` read through `other` (read once per run) to `into`, or mark `into`
        partial with that read's health: the other source's own health rules decide."""
        read = self._expanded.get((other.name, group))
        if read is None:
            try:
                read = other.read_group(group)
            except RemoteError as error:
                read = GroupRead(other.name, group, Health.ERROR, detail=str(error))
            self._expanded[(other.name, group)] = read
        if read.health is not Health.OK:
            into.partial.append(
                f"{label} ({group}) could not be expanded through source "
                f"{other.name!r}: {read.health.value}{': ' + read.detail if read.detail else ''}"
            )
            return
        for person in read.members:
            into.add(replace(person, via=(*via, *person.via)))
        for item in read.unidentified:
            into.add_unidentified(item)
        into.skipped += read.skipped

    def paged(self, url: str, *, step: str, kind: str, params: Mapping[str, str | int]) -> Iterator[Any]:
        """Every page body of an ADO listing that continues with `X-MS-ContinuationToken`."""
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = dict(params)
            if token:
                query["continuationToken"] = token
            _, headers, body = self._call("GET", url, step=step, kind=kind, params=query)
            yield body
            token = headers.get("X-MS-ContinuationToken") or None
            if not token:
                return
            if token in seen:
                raise SourceProtocolError(f"{step}: {self.http.describe} repeated a continuation token")
            seen.add(token)
        raise SourceProtocolError(f"{step}: more than {MAX_PAGES} pages; giving up")


def values_of(body: Any, step: str) -> list[Any]:
    """The `value` array of an ADO answer (`{"count", "value": [...]}`, or a bare list)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return list(body["value"])
    raise SourceProtocolError(f"{step}: the answer has no 'value' list")


def batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- Services: Graph API --------------------------------------------------------------------------------
class AzureDevOpsServicesSource(AzureDevOpsBase):
    def __init__(self, settings: AzureDevOpsSettings, lookup: SourceLookup) -> None:
        assert settings.organization is not None
        self._graph = f"{settings.vssps_url}/{quote(settings.organization)}/_apis/graph"
        super().__init__(
            settings,
            lookup,
            describe=f"Azure DevOps organization {settings.organization} ({settings.vssps_url})",
        )
        self._groups: list[dict[str, Any]] | None = None
        self._subjects: dict[str, dict[str, Any]] = {}
        self._lookup_size = settings.lookup_batch_size  # lowered for this run when a batch is refused (400)

    def _graph_call(
        self,
        method: str,
        path: str,
        step: str,
        kind: str,
        *,
        json_body: object = None,
        ok_statuses: frozenset[int] = frozenset({200}),
    ) -> tuple[int, Any]:
        status, _, body = self._call(
            method,
            f"{self._graph}/{path}",
            step=step,
            kind=kind,
            params={"api-version": self.settings.api_version},
            json_body=json_body,
            ok_statuses=ok_statuses,
        )
        return status, body

    # -- `syncd check` ----------------------------------------------------------------------------
    def check_connection(self) -> str:
        """Authenticate and read one page of groups; raises SourceAuthFailed / SourceUnreachable."""
        step = f"source {self.name!r}: checking access to the Graph API"
        _, body = self._graph_call("GET", "groups", step, "GET graph/groups")
        how = "service principal" if self.settings.service_principal else "PAT"
        count = len(values_of(body, step))
        return f"{self.http.describe}: signed in with a {how}; {count} groups on the first page"

    # -- reading ----------------------------------------------------------------------------------
    def _collect(self, root: dict[str, Any], collector: MemberCollector) -> None:
        entra = self.entra_source()
        if _is_entra_group(root):
            if entra is not None:
                self.expand_entra_group(entra, str(root.get("originId", "")), _label(root), (), collector)
                return
            collector.partial.append(self._materialized_only(root))
        self._walk(root, collector, entra)

    def _walk(self, root: Mapping[str, Any], collector: MemberCollector, entra: Source | None) -> None:
        root_descriptor = str(root["descriptor"])
        visited = {root_descriptor}
        frontier: list[tuple[str, tuple[str, ...]]] = [(root_descriptor, ())]
        while frontier:
            level = [(descriptor, via, self._members_of(descriptor)) for descriptor, via in frontier]
            self._lookup_subjects([m for _, _, members in level for m in members])
            frontier = []
            for _, via, members in level:
                for member in members:
                    subject = self._subjects.get(member)
                    if subject is None:
                        self._unresolved(member, via, collector)
                        continue
                    kind = _classify(subject)
                    if kind == "user":
                        collector.add_user(
                            addresses=(subject.get("mailAddress"), subject.get("principalName")),
                            display_name=str(subject.get("displayName") or ""),
                            source_id=member,
                            enabled=not subject.get("isDeletedInOrigin", False),
                            inactive=DELETED_IN_ORIGIN,
                            via=via,
                            detail="no e-mail address in mailAddress or principalName",
                            upn=str(subject.get("principalName") or ""),
                            identifiers=(str(subject.get("originId") or ""), member),
                        )
                    elif kind == "group":
                        if member in visited:
                            continue  # a cycle, or a group reached along two paths
                        visited.add(member)
                        path = (*via, _label(subject))
                        if _is_entra_group(subject):
                            if entra is not None:
                                self.expand_entra_group(
                                    entra, str(subject.get("originId", "")), _label(subject), path, collector
                                )
                                continue
                            collector.partial.append(self._materialized_only(subject))
                        frontier.append((member, path))
                    else:
                        collector.skipped += 1

    def _materialized_only(self, subject: Mapping[str, Any]) -> str:
        return (
            f"Entra group {_label(subject)} was read only as far as Azure DevOps lists its members (those "
            f"who have signed in); set expand_entra_with in {self.settings.where} to an entra source"
        )

    def _unresolved(self, descriptor: str, via: tuple[str, ...], collector: MemberCollector) -> None:
        kind = descriptor.split(".", 1)[0]
        if kind in ("vssgp", "aadgp"):
            collector.partial.append(f"nested group {descriptor} could not be looked up")
        elif kind in SERVICE_DESCRIPTOR_KINDS:
            collector.skipped += 1
        else:
            collector.add_unidentified(
                Unidentified(
                    descriptor,
                    "",
                    "subject lookup returned nothing for this member"
                    + (f" (via {' > '.join(via)})" if via else ""),
                )
            )

    def _members_of(self, descriptor: str) -> list[str]:
        step = f"source {self.name!r}: listing members of {descriptor}"
        members: list[str] = []
        for body in self.paged(
            f"{self._graph}/Memberships/{quote(descriptor)}",
            step=step,
            kind="GET graph/memberships",
            params={"direction": "down", "depth": 1, "api-version": self.settings.api_version},
        ):
            for item in values_of(body, step):
                member = item.get("memberDescriptor") if isinstance(item, dict) else None
                if not isinstance(member, str) or not member:
                    raise SourceProtocolError(f"{step}: a membership without memberDescriptor")
                members.append(member)
        return members

    def _lookup_subjects(self, descriptors: Sequence[str]) -> None:
        """Subjects by descriptor, `lookup_batch_size` at a time. The per-call limit is [U] (docs/contract.md
        §2): a 400 for a batch halves the size and retries what is left at that size (a batch of one that is
        refused is an error); the rest of the run keeps the size that worked, and a warning suggests setting
        it."""
        left = list(dict.fromkeys(d for d in descriptors if d not in self._subjects))
        while left:  # each pass sends one batch or halves the size: bounded by len + log2(size) passes
            batch, rest = left[: self._lookup_size], left[self._lookup_size :]
            step = f"source {self.name!r}: looking up {len(batch)} members"
            keys = {"lookupKeys": [{"descriptor": d} for d in batch]}
            status, body = self._graph_call(
                "POST",
                "subjectlookup",
                step,
                "POST graph/subjectlookup",
                json_body=keys,
                ok_statuses=frozenset({200, 400}) if len(batch) > 1 else frozenset({200}),
            )
            if status == 400:
                self._lookup_size = len(batch) // 2
                log.warning(
                    "subjectlookup refused the batch; retrying in smaller ones",
                    source=self.name,
                    batch=len(batch),
                    now=self._lookup_size,
                    hint=f"set lookup_batch_size = {self._lookup_size} in {self.settings.where}",
                )
                continue
            left = rest
            found = body.get("value") if isinstance(body, dict) else None
            if not isinstance(found, dict):
                raise SourceProtocolError(f"{step}: the answer has no 'value' map")
            for descriptor, subject in found.items():
                if isinstance(subject, dict):
                    self._subjects[descriptor] = subject

    # -- resolving the configured name ------------------------------------------------------------
    def _resolve(self, group: str) -> dict[str, Any] | GroupRead:
        name = group.strip()
        if _GRAPH_DESCRIPTOR.match(name):
            step = f"source {self.name!r}: reading group {name}"
            status, body = self._graph_call(
                "GET",
                f"groups/{quote(name)}",
                step,
                "GET graph/groups/{descriptor}",
                ok_statuses=frozenset({200, 404}),
            )
            if status == 404 or not isinstance(body, dict) or "descriptor" not in body:
                return missing(self.name, group, f"no group with descriptor {name} in {self.http.describe}")
            return body
        groups = self._all_groups()
        folded = name.casefold()
        if "\\" in name:
            exact = [g for g in groups if str(g.get("principalName", "")).casefold() == folded]
        else:
            exact = [g for g in groups if str(g.get("displayName", "")).casefold() == folded]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            names = ", ".join(sorted(str(g.get("principalName")) for g in exact)[:10])
            return missing(
                self.name,
                group,
                f"{len(exact)} groups are named {name!r} ({names}); write the principal name",
            )
        principal_names = [str(g.get("principalName", "")) for g in groups]
        return missing(
            self.name,
            group,
            f"no group {name!r} among {len(groups)} groups of {self.http.describe}"
            + did_you_mean(name, principal_names),
        )

    def _all_groups(self) -> list[dict[str, Any]]:
        if self._groups is None:
            step = f"source {self.name!r}: listing groups"
            groups: list[dict[str, Any]] = []
            for body in self.paged(
                f"{self._graph}/groups",
                step=step,
                kind="GET graph/groups",
                params={"api-version": self.settings.api_version},
            ):
                groups.extend(g for g in values_of(body, step) if isinstance(g, dict) and "descriptor" in g)
            self._groups = groups
        return self._groups


def _descriptor_kind(subject: Mapping[str, Any]) -> str:
    return str(subject.get("descriptor", "")).split(".", 1)[0].lower()


def _is_entra_group(subject: Mapping[str, Any]) -> bool:
    return _descriptor_kind(subject) == "aadgp" or (
        str(subject.get("subjectKind", "")).lower() == "group"
        and str(subject.get("origin", "")).lower() == "aad"
    )


def _classify(subject: Mapping[str, Any]) -> str:
    """'user', 'group' or 'service' (skipped) for one Graph subject."""
    kind = _descriptor_kind(subject)
    subject_kind = str(subject.get("subjectKind", "")).lower()
    if kind in SERVICE_DESCRIPTOR_KINDS or str(subject.get("metaType", "")).lower() == "application":
        return "service"
    if subject_kind == "group" or kind in ("vssgp", "aadgp"):
        return "group"
    if subject_kind == "user":
        if str(subject.get("domain", "")).lower() in SERVICE_DOMAINS:
            return "service"
        return "user"
    return "service"


def _label(subject: Mapping[str, Any]) -> str:
    return str(subject.get("principalName") or subject.get("displayName") or subject.get("descriptor", "?"))
