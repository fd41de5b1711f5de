"""Azure DevOps Services "User Entitlements - Search" for the emulator (issue 18's second activity signal):
`GET /{organization}/_apis/userentitlements?api-version=…&continuationToken=…` (on vsaex.dev.azure.com).

From the vendor's spec (MicrosoftDocs/vsts-rest-api-specs, memberEntitlementManagement 7.1):
`{"items": [UserEntitlement], "continuationToken": … or null, "totalCount": n}`; each entitlement has `id`,
`user {principalName, mailAddress, …}`, `accessLevel`, `dateCreated` and `lastAccessedDate`, where
"0001-01-01T00:00:00Z" means never. [U], switchable in `EntitlementContract`: the page size (100), whether the
list is under `items` (7.1) or `members` (7.0, 7.1-preview.3 callers), and a token with `+ / = #` characters
(URL-encoding matters).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from syncd.emulators.http_server import Request, Response

NEVER = "0001-01-01T00:00:00Z"


@dataclass
class EntitlementContract:
    page_size: int = 100
    list_key: Literal["items", "members"] = "items"
    last_accessed: dict[str, str] = field(default_factory=dict)  # mail (lower case) → ISO time; absent: never


def _token(offset: int) -> str:
    # a token with "+", "/", "=" and "#" in it, as the real ones have (W17 #442): clients must URL-encode it
    return base64.b64encode(f"#TRC:{offset}#".encode()).decode("ascii") + "+/="


def _offset(token: str | None) -> int:
    if not token:
        return 0
    text = base64.b64decode(token.removesuffix("+/=")).decode()
    return int(text.strip("#").split(":", 1)[1])


def entitlements_page(request: Request, mails: list[str], contract: EntitlementContract) -> Response:
    try:
        offset = _offset(request.param("continuationToken"))
    except (ValueError, IndexError):
        return Response.json(
            400, {"message": "The continuation token is not valid.", "typeKey": "ArgumentException"}
        )
    size = contract.page_size
    page = mails[offset : offset + size]
    items: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, mail)),
            "user": {"subjectKind": "user", "principalName": mail, "mailAddress": mail, "origin": "aad"},
            "accessLevel": {
                "accountLicenseType": "express",
                "licenseDisplayName": "Basic",
                "status": "active",
            },
            "dateCreated": "2025-01-01T00:00:00Z",
            "lastAccessedDate": contract.last_accessed.get(mail.lower(), NEVER),
        }
        for mail in page
    ]
    more = offset + size < len(mails)
    return Response.json(
        200,
        {
            contract.list_key: items,
            "continuationToken": _token(offset + size) if more else None,
            "totalCount": len(mails),
        },
    )
