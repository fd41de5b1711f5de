"""Azure DevOps Server (on-premises) groups through the Identities API — the Graph API is Services-only
(vsts-rest-api-specs #184, azure-devops-cli-extension #666; docs/contract.md §2, 2.5).

`GET {collection}/_apis/identities?searchFilter=General&filterValue=<name>&queryMembership=Direct` finds the
group; its `members` are identity descriptors. Decisions on docs/contract.md's [U] items:
- Default `identities_membership = "direct"`: syncd walks the groups itself, breadth first with a visited
  set, resolving member descriptors in batches (`descriptors=a,b,c&queryMembership=Direct`), so a nested
  group's own members arrive with its lookup and cost no extra call. This gives `Person.via` paths and does
  not depend on how complete `expandedDown` is ([U]). `"expandedDown"` asks the server for the flattened
  member list in one call and resolves it with `queryMembership=None` (no via paths; nested groups are not
  counted as skipped, they are containers).
- Batches are also capped at ~1,500 characters of descriptors, because IIS' default maxQueryString is 2,048.
- The server's serializer leaves out `isActive` and `isContainer` when they are false (IdentityBase marks them
  EmitDefaultValue = false; docs/contract.md): an identity is active only when `isActive` is true, and a group
  is recognised by `isContainer`, by the group descriptor type (Microsoft.TeamFoundation.Identity) or by its
  SchemaClassName property "Group". A user's address is the `Mail` property, falling back to `Account` when
  that is an address; an identity that is not active reads as disabled. Service identities (descriptor
  types ServiceIdentity, AggregateIdentity, AadServicePrincipal, …) are skipped and counted. An entry the
  server answers with `null` is unidentified (or makes the read PARTIAL when it was reached as a group).
- A Windows (Active Directory) group inside an ADO group (descriptor System.Security.Principal.WindowsIdentity
  with isContainer) lists only the members in the server's own periodic copy of AD, which may be late or
  failing. With `expand_windows_with` naming an ldap source, its members are read from AD by its SID (that
  source's health rules apply); without it the server's copy is used and the read is PARTIAL.
- Group names: "[Project]\\Group" / "[Collection]\\Group" matched against providerDisplayName, a bare name
  matched against the Account property (must be unique), or an identity descriptor
  ("Microsoft.TeamFoundation.Identity;S-1-9-…").
- Auth: a PAT (Basic). NTLM/Kerberos would need requests-ntlm / pyspnego, which are not dependencies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from syncd.errors import SourceProtocolError
from syncd.models import GroupRead, Unidentified
from syncd.sources.azure_devops import AzureDevOpsBase, AzureDevOpsSettings, values_of
from syncd.sources.interface import SourceLookup
from syncd.sources.members import MemberCollector, did_you_mean, missing

MAX_QUERY_CHARS = 1500
GROUP_DESCRIPTOR_TYPE = "microsoft.teamfoundation.identity"
WINDOWS_DESCRIPTOR_TYPE = "system.security.principal.windowsidentity"
INACTIVE = "not active on Azure DevOps Server (isActive is not true)"
SERVICE_IDENTITY_TYPES = frozenset(
    {
        "microsoft.teamfoundation.serviceidentity",
        "microsoft.teamfoundation.aggregateidentity",
        "microsoft.teamfoundation.bindpendingidentity",
        "microsoft.visualstudio.services.claims.aadserviceprincipal",
        "microsoft.teamfoundation.unauthenticatedidentity",
    }
)


class AzureDevOpsServerSource(AzureDevOpsBase):
    def __init__(self, settings: AzureDevOpsSettings, lookup: SourceLookup) -> None:
        assert settings.server_url is not None
        self._identities = f"{settings.server_url}/_apis/identities"
        super().__init__(settings, lookup, describe=f"Azure DevOps Server {settings.server_url}")
        self._known: dict[str, dict[str, Any] | None] = {}

    def _identities_get(self, step: str, params: dict[str, str]) -> Any:
        _, _, body = self._call(
            "GET",
            self._identities,
            step=step,
            kind="GET identities",
            params={**params, "api-version": self.settings.api_version},
        )
        return body

    def check_connection(self) -> str:
        """Authenticate with one cheap Identities search; raises SourceAuthFailed / SourceUnreachable."""
        step = f"source {self.name!r}: checking access to the Identities API"
        self._identities_get(
            step,
            {
                "searchFilter": "General",
                "filterValue": "Project Collection Valid Users",
                "queryMembership": "None",
            },
        )
        return f"{self.http.describe}: signed in with a PAT"

    def _collect(self, root: dict[str, Any], collector: MemberCollector) -> None:
        if _is_windows_group(root) and self._windows_group(root, (), collector):
            return
        if self.settings.identities_membership == "expandedDown":
            self._read_expanded(root, collector)
        else:
            self._walk(root, collector)

    def _windows_group(
        self, identity: Mapping[str, Any], via: tuple[str, ...], into: MemberCollector
    ) -> bool:
        """A Windows group: expanded through AD (True: done), or noted as partial (False: the caller goes on
        with the members the server lists from its own copy of AD)."""
        ldap = self.windows_source()
        descriptor = str(identity.get("descriptor"))
        if ldap is not None:
            sid = descriptor.split(";", 1)[1]
            self.expand_group(ldap, sid, f"Windows group {_label(identity)}", via, into)
            return True
        into.partial.append(
            f"Windows group {_label(identity)} ({descriptor}) lists only the members in Azure DevOps "
            "Server's periodic copy of Active Directory, which may be late; set expand_windows_with in "
            f"{self.settings.where} to an ldap source"
        )
        return False

    def _walk(self, root: Mapping[str, Any], collector: MemberCollector) -> None:
        visited = {str(root.get("descriptor"))}
        frontier: list[tuple[Sequence[str], tuple[str, ...]]] = [(_members(root), ())]
        while frontier:
            self._resolve_descriptors([d for members, _ in frontier for d in members], "Direct")
            next_frontier: list[tuple[Sequence[str], tuple[str, ...]]] = []
            for members, via in frontier:
                for descriptor in members:
                    identity = self._known.get(descriptor)
                    if identity is None:
                        self._unresolved(descriptor, via, collector)
                    elif _is_group(identity):
                        if descriptor not in visited:
                            visited.add(descriptor)
                            path = (*via, _label(identity))
                            if _is_windows_group(identity) and self._windows_group(identity, path, collector):
                                continue
                            next_frontier.append((_members(identity), path))
                    else:
                        self._add(identity, descriptor, via, collector)
            frontier = next_frontier

    def _read_expanded(self, root: Mapping[str, Any], collector: MemberCollector) -> None:
        step = f"source {self.name!r}: expanding {_label(root)}"
        body = self._identities_get(
            step, {"descriptors": str(root.get("descriptor")), "queryMembership": "ExpandedDown"}
        )
        found = [i for i in values_of(body, step) if isinstance(i, dict)]
        if not found:
            raise SourceProtocolError(f"{step}: the group vanished while it was read")
        members = _members(found[0])
        self._resolve_descriptors(members, "None")
        for descriptor in members:
            identity = self._known.get(descriptor)
            if identity is None:
                self._unresolved(descriptor, (), collector)
            elif not _is_group(identity):
                self._add(identity, descriptor, (), collector)
            elif _is_windows_group(identity):
                # the server's flattened list holds its own copy of this group's members; AD adds the rest
                self._windows_group(identity, (), collector)

    def _add(
        self, identity: Mapping[str, Any], descriptor: str, via: tuple[str, ...], collector: MemberCollector
    ) -> None:
        if descriptor.split(";", 1)[0].lower() in SERVICE_IDENTITY_TYPES:
            collector.skipped += 1
            return
        collector.add_user(
            addresses=(_property(identity, "Mail"), _property(identity, "Account")),
            display_name=str(identity.get("providerDisplayName") or ""),
            source_id=str(identity.get("id") or descriptor),
            enabled=identity.get("isActive") is True,
            via=via,
            detail="no e-mail address in the Mail or Account property",
            inactive=INACTIVE,
        )

    def _unresolved(self, descriptor: str, via: tuple[str, ...], collector: MemberCollector) -> None:
        kind = descriptor.split(";", 1)[0].lower()
        if kind in SERVICE_IDENTITY_TYPES:
            collector.skipped += 1
        elif kind == GROUP_DESCRIPTOR_TYPE:
            collector.partial.append(f"nested group {descriptor} could not be read")
        else:
            suffix = f" (via {' > '.join(via)})" if via else ""
            collector.add_unidentified(
                Unidentified(descriptor, "", "the server could not resolve it" + suffix)
            )

    def _resolve_descriptors(self, descriptors: Sequence[str], membership: str) -> None:
        unknown = list(dict.fromkeys(d for d in descriptors if d not in self._known))
        for batch in _query_batches(unknown, self.settings.lookup_batch_size):
            step = f"source {self.name!r}: resolving {len(batch)} identities"
            body = self._identities_get(step, {"descriptors": ",".join(batch), "queryMembership": membership})
            answered = values_of(body, step)
            by_descriptor = {str(i.get("descriptor")).casefold(): i for i in answered if isinstance(i, dict)}
            for descriptor in batch:
                self._known[descriptor] = by_descriptor.get(descriptor.casefold())

    def _resolve(self, group: str) -> dict[str, Any] | GroupRead:
        name = group.strip()
        step = f"source {self.name!r}: finding group {name!r}"
        if ";" in name and "\\" not in name:
            params = {"descriptors": name}
        else:
            params = {"searchFilter": "General", "filterValue": name}
        body = self._identities_get(step, {**params, "queryMembership": "Direct"})
        found = [i for i in values_of(body, step) if isinstance(i, dict) and _is_group(i)]
        folded = name.casefold()
        if "descriptors" in params:
            exact = [i for i in found if str(i.get("descriptor", "")).casefold() == folded]
        elif "\\" in name:
            exact = [i for i in found if str(i.get("providerDisplayName", "")).casefold() == folded]
        else:
            exact = [i for i in found if str(_property(i, "Account") or "").casefold() == folded]
        if len(exact) == 1:
            self._known[str(exact[0].get("descriptor"))] = exact[0]
            return exact[0]
        if len(exact) > 1:
            names = ", ".join(sorted(_label(i) for i in exact)[:10])
            return missing(
                self.name,
                group,
                f"{len(exact)} groups are named {name!r} ({names}); write '[Project]\\Group'",
            )
        return missing(
            self.name,
            group,
            f"no group {name!r} in {self.http.describe}" + did_you_mean(name, [_label(i) for i in found]),
        )


def _query_batches(descriptors: Sequence[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    length = 0
    for descriptor in descriptors:
        if batch and (len(batch) >= size or length + len(descriptor) + 1 > MAX_QUERY_CHARS):
            yield batch
            batch, length = [], 0
        batch.append(descriptor)
        length += len(descriptor) + 1
    if batch:
        yield batch


def _descriptor_type(identity: Mapping[str, Any]) -> str:
    return str(identity.get("descriptor") or "").split(";", 1)[0].casefold()


def _is_group(identity: Mapping[str, Any]) -> bool:
    """isContainer may be left out when false, so a group is also known by its descriptor type (TFS groups)
    or its SchemaClassName (Windows groups carry the same descriptor type as Windows users)."""
    return (
        identity.get("isContainer") is True
        or _descriptor_type(identity) == GROUP_DESCRIPTOR_TYPE
        or (_property(identity, "SchemaClassName") or "").casefold() == "group"
    )


def _is_windows_group(identity: Mapping[str, Any]) -> bool:
    return _descriptor_type(identity) == WINDOWS_DESCRIPTOR_TYPE and _is_group(identity)


def _members(identity: Mapping[str, Any]) -> list[str]:
    members = identity.get("members") or []
    return [m for m in members if isinstance(m, str) and m]


def _property(identity: Mapping[str, Any], name: str) -> str | None:
    properties = identity.get("properties")
    if not isinstance(properties, dict):
        return None
    entry = properties.get(name)
    value = entry.get("$value") if isinstance(entry, dict) else None
    return value if isinstance(value, str) and value else None


def _label(identity: Mapping[str, Any]) -> str:
    return str(
        identity.get("providerDisplayName") or _property(identity, "Account") or identity.get("descriptor")
    )
