"""The second, optional activity signal (issue 18): when each person last accessed Azure DevOps Services,
from "User Entitlements - Search" (`GET https://vsaex.dev.azure.com/{org}/_apis/userentitlements`, 7.1).

Per the vendor's spec (docs/contract.md "7pace worklogs (activity)"): the answer is `items` (7.1; `members` in
7.0 and some previews, both accepted), `continuationToken` null at the end (sent back URL-encoded: it contains
`+ / = #`), each entry's `lastAccessedDate` with "0001-01-01T00:00:00Z" meaning never. Read through the
configured azure_devops source's HTTP client (its PAT or service principal, its Retry-After handling).
It only informs the idle-seat list ("never used Azure DevOps"); it never makes anyone idle on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.errors import SourceError, SourceProtocolError
from syncd.identity import EmailKey, normalise_email
from syncd.sources.azure_devops import AzureDevOpsServicesSource
from syncd.sources.interface import Source
from syncd.sources.members import MAX_PAGES

DEFAULT_URL = "https://vsaex.dev.azure.com"
API_VERSION = "7.1"
KIND = "GET userentitlements"


def read_last_access(source: Source, base_url: str) -> dict[EmailKey, datetime | None]:
    """E-mail → last access (None: never), for every user entitlement of the source's organization."""
    if not isinstance(source, AzureDevOpsServicesSource) or not source.settings.organization:
        raise SourceError("reclaim.devops_source must name an Azure DevOps Services source (organization)")
    if base_url.startswith("http://") and not source.settings.vssps_url.startswith("http://"):
        # the PAT would travel unencrypted: only where the source itself was allowed plain http (emulators)
        raise SourceError(f"reclaim.devops_url {base_url!r} is plain http; use https")
    url = f"{base_url.rstrip('/')}/{source.settings.organization}/_apis/userentitlements"
    last: dict[EmailKey, datetime | None] = {}
    token: str | None = None
    for page in range(MAX_PAGES):
        params = {"api-version": API_VERSION} | ({"continuationToken": token} if token else {})
        step = f"reading user entitlements (page {page + 1})"
        _, body = source.http.request("GET", url, step=step, kind=KIND, params=params)
        items = body.get("items", body.get("members")) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SourceProtocolError(f'{step}: the answer has no list of entitlements in "items"')
        for item in items:
            user = item.get("user") if isinstance(item, dict) else None
            if not isinstance(user, dict):
                continue
            key = normalise_email(str(user.get("mailAddress") or "")) or normalise_email(
                str(user.get("principalName") or "")
            )
            if key is not None:
                last[key] = _when(item.get("lastAccessedDate"))
        token = body.get("continuationToken") or None
        if token is None or not items:
            return last
    raise SourceProtocolError(f"reading user entitlements: more than {MAX_PAGES} pages")


def _when(value: object) -> datetime | None:
    """None for "never" (year 1, or no usable value: the safe reading for an informational column)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year <= 1:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
