"""Entra ID groups as a membership source, through Microsoft Graph (docs/contract.md §3).

Settings (`[[sources]]`, type = "entra"):
  tenant_id, client_id, client_secret | certificate (+thumbprint) | pfx, certificate_passphrase,
  authority_url                      the service principal (syncd.entra_auth); it needs the application
                                     permission GroupMember.Read.All (or Group.Read.All) with admin consent
  graph_url = "https://graph.microsoft.com"   base-URL override (sovereign clouds, proxies, emulators)
  graph_scope                        default "<graph_url>/.default"; set it when graph_url is a proxy
  page_size = 999                    $top for transitiveMembers (999: Graph's documented maximum for members)
  ca_bundle, proxy, timeout          as every HTTPS peer (syncd.http)

Group names in rules: the group's object id (a GUID) — stable across renames. A display name is accepted too
when exactly one group has it (`$filter=displayName eq '…'`); none or several is `Health.MISSING`, so a
rename or a duplicate name holds removals instead of emptying the group.

Reading: `GET /v1.0/groups/{id}/transitiveMembers?$select=id,mail,userPrincipalName,accountEnabled,
displayName&$top=999`, following the whole `@odata.nextLink` (Microsoft Graph's paging documentation:
"until the @odata.nextLink property is no longer returned"; a page may be empty). Users are picked by
`@odata.type` client-side rather than with the `/microsoft.graph.user` cast, which needs ConsistencyLevel:
eventual and its index lag ([U] decision).
Nested groups appear in the flat list and are containers, not members; devices, service principals and
org contacts are skipped and counted. `accountEnabled` (returned only when selected) false → disabled.
Identity: `mail`, falling back to `userPrincipalName`.

nextLink is absolute; its path and query are re-based onto `graph_url`, so a bearer token never goes to a
host other than the configured one. Errors follow the same policy as the azure_devops source: a 404 is
MISSING; a read that cannot finish is ERROR; refused credentials, or no answer before anything was read,
raise SourceAuthFailed / SourceUnreachable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from syncd.config_section import Section
from syncd.entra_auth import EntraCredentials, EntraTokenProvider, read_entra_credentials
from syncd.errors import SourceAuthFailed, SourceProtocolError, SourceUnreachable
from syncd.http import HttpClient, HttpOptions, RateLimiter, read_http_options
from syncd.models import GroupRead
from syncd.sources.interface import Source, SourceLookup, SourceType
from syncd.sources.members import MAX_PAGES, MemberCollector, did_you_mean, missing, read_with_health

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
GRAPH_VERSION = "v1.0"
USER_FIELDS = "id,mail,userPrincipalName,accountEnabled,displayName,otherMails,proxyAddresses"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_USER = "#microsoft.graph.user"
_GROUP = "#microsoft.graph.group"


@dataclass(frozen=True, slots=True)
class EntraSettings:
    name: str
    where: str
    credentials: EntraCredentials
    graph_url: str
    graph_scope: str
    page_size: int
    http: HttpOptions
    type: str = "entra"


def parse(section: Section, name: str) -> EntraSettings:
    credentials = read_entra_credentials(section, required=True)
    graph_url = section.url("graph_url", DEFAULT_GRAPH_URL, schemes=("https",)) or DEFAULT_GRAPH_URL
    scope = section.optional_str(
        "graph_scope", expected="an OAuth scope such as 'https://graph.microsoft.com/.default'"
    )
    page_size = section.int("page_size", 999, minimum=1, maximum=999)
    http = read_http_options(section)
    section.finish()
    origin = urlsplit(graph_url)
    assert credentials is not None  # required=True always returns a value (problems are recorded)
    return EntraSettings(
        name=name,
        where=section.at("").rstrip("."),
        credentials=credentials,
        graph_url=graph_url,
        graph_scope=scope or f"{origin.scheme}://{origin.netloc}/.default",
        page_size=page_size,
        http=http,
    )


def open_source(settings: EntraSettings, lookup: SourceLookup) -> Source:
    return EntraSource(settings)


SOURCE_TYPE = SourceType(parse=parse, open=open_source)


class EntraSource:
    def __init__(self, settings: EntraSettings) -> None:
        self.settings = settings
        self._tokens = EntraTokenProvider(
            settings.credentials, settings.http, describe=f"source {settings.name!r}"
        )
        self._base = f"{settings.graph_url}/{GRAPH_VERSION}"
        self.http = HttpClient(
            describe=f"Microsoft Graph ({settings.graph_url}) for tenant {settings.credentials.tenant_id}",
            options=settings.http,
            auth_header=self._tokens.auth_header(settings.graph_scope),
            limiter=RateLimiter(windows=()),  # carries Retry-After into the next request
            unreachable=SourceUnreachable,
            auth_failed=SourceAuthFailed,
            protocol_error=SourceProtocolError,
            auth_hint=(
                f"grant the application {settings.credentials.client_id} the Microsoft Graph application "
                "permission GroupMember.Read.All with admin consent"
            ),
            user_agent="syncd (entra source)",
        )
        self._reached = False

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self.http.close()
        self._tokens.close()

    def check_connection(self) -> str:
        """Acquire a token and list one group; raises SourceAuthFailed / SourceUnreachable."""
        step = f"source {self.name!r}: checking access to Microsoft Graph"
        self._get(f"{self._base}/groups", step, "GET groups", {"$top": 1, "$select": "id"})
        return f"{self.http.describe}: signed in as application {self.settings.credentials.client_id}"

    def read_group(self, group: str) -> GroupRead:
        return read_with_health(self.name, group, lambda: self._read(group), reached=lambda: self._reached)

    def _read(self, group: str) -> GroupRead:
        name = group.strip()
        if _GUID.match(name):
            object_id = name
        else:
            resolved = self._by_display_name(group, name)
            if isinstance(resolved, GroupRead):
                return resolved
            object_id = resolved
        collector = MemberCollector()
        step = f"source {self.name!r}: reading members of group {object_id}"
        url: str | None = f"{self._base}/groups/{quote(object_id)}/transitiveMembers"
        params: Mapping[str, str | int] | None = {"$select": USER_FIELDS, "$top": self.settings.page_size}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            assert url is not None
            status, body = self._get(url, step, "GET transitiveMembers", params, ok=frozenset({200, 404}))
            if status == 404:
                return missing(
                    self.name, group, f"no group with object id {object_id} in {self.http.describe}"
                )
            self._collect(body, step, collector)
            url = self._next(body, step)
            if url is None:
                return collector.read(self.name, group)
            if url in seen:
                raise SourceProtocolError(f"{step}: Microsoft Graph repeated a @odata.nextLink")
            seen.add(url)
            params = None  # the nextLink carries every parameter
        raise SourceProtocolError(f"{step}: more than {MAX_PAGES} pages; giving up")

    def _collect(self, body: Any, step: str, collector: MemberCollector) -> None:
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise SourceProtocolError(f"{step}: the answer has no 'value' list")
        for item in values:
            if not isinstance(item, dict):
                continue
            kind = item.get("@odata.type")
            if kind == _USER:
                collector.add_user(
                    addresses=(item.get("mail"), item.get("userPrincipalName")),
                    display_name=str(item.get("displayName") or ""),
                    source_id=str(item.get("id") or ""),
                    enabled=item.get("accountEnabled") is not False,
                    inactive="sign-in blocked in Entra ID (accountEnabled is false)",
                    via=(),
                    detail="no e-mail address in mail or userPrincipalName",
                    upn=str(item.get("userPrincipalName") or ""),
                    identifiers=(*_strings(item.get("otherMails")), *_smtp(item.get("proxyAddresses")),
                                 str(item.get("id") or "")),
                )  # fmt: skip
            elif kind != _GROUP:
                collector.skipped += 1

    def _next(self, body: Any, step: str) -> str | None:
        link = body.get("@odata.nextLink") if isinstance(body, dict) else None
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise SourceProtocolError(f"{step}: @odata.nextLink is not a URL")
        parts = urlsplit(link)
        path = parts.path
        marker = f"/{GRAPH_VERSION}/"
        if marker not in path:
            raise SourceProtocolError(
                f"{step}: @odata.nextLink {link[:120]!r} is not a Graph {GRAPH_VERSION} URL"
            )
        rebased = f"{self._base}/{path.split(marker, 1)[1]}"
        return f"{rebased}?{parts.query}" if parts.query else rebased

    def _by_display_name(self, group: str, name: str) -> str | GroupRead:
        step = f"source {self.name!r}: finding group {name!r}"
        literal = name.replace("'", "''")  # OData string literal escaping
        _, body = self._get(
            f"{self._base}/groups",
            step,
            "GET groups",
            {"$filter": f"displayName eq '{literal}'", "$select": "id,displayName", "$top": 10},
        )
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise SourceProtocolError(f"{step}: the answer has no 'value' list")
        ids = [str(v.get("id")) for v in values if isinstance(v, dict) and v.get("id")]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            return missing(
                self.name,
                group,
                f"no group named {name!r} in {self.http.describe}; rules may name its object id"
                + did_you_mean(name, self._names_like(name, step)),
            )
        return missing(
            self.name,
            group,
            f"{len(ids)} groups are named {name!r} ({', '.join(ids[:5])}); write the object id instead",
        )

    def _names_like(self, name: str, step: str) -> list[str]:
        """Display names that start like `name` (its first three characters): candidates for "did you
        mean". One bounded request; a failure here only loses the hint."""
        literal = name[:3].replace("'", "''")
        try:
            _, body = self._get(
                f"{self._base}/groups",
                step,
                "GET groups",
                {"$filter": f"startswith(displayName,'{literal}')", "$select": "displayName", "$top": 100},
            )
        except SourceProtocolError:
            return []
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            return []
        return [str(v["displayName"]) for v in values if isinstance(v, dict) and v.get("displayName")]

    def _get(
        self,
        url: str,
        step: str,
        kind: str,
        params: Mapping[str, str | int] | None,
        ok: frozenset[int] = frozenset({200}),
    ) -> tuple[int, Any]:
        response, body = self.http.request("GET", url, step=step, kind=kind, params=params, ok_statuses=ok)
        self._reached = True
        return response.status_code, body


def _strings(value: object) -> list[str]:
    """A Graph string collection (otherMails, proxyAddresses); anything else is no identifiers."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _smtp(value: object) -> list[str]:
    """The e-mail proxy addresses ("SMTP:" primary, "smtp:" secondary); X500, SIP and the like are not names
    7pace knows anyone by."""
    return [v for v in _strings(value) if v[:5].casefold() == "smtp:"]
