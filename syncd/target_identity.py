"""What identifies a licence target, for binding a state to it and naming its default folder (issue 21)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from syncd.targets.interface import TargetSettings

CLOUD_SUFFIX = ".timehub.7pace.com"


def binding(settings: TargetSettings) -> dict[str, str]:
    """What identifies the target: its type, host and path (no scheme or port: an https move or a new port
    is the same organisation), and the organisation where the URL names one."""
    parts = urlsplit(str(getattr(settings, "url", "") or ""))
    host = (parts.hostname or "").lower()
    segments = [s.lower() for s in parts.path.split("/") if s]
    if segments[-1:] == ["rest"]:
        segments = segments[:-1]
    organisation = str(getattr(settings, "organisation", "") or getattr(settings, "organization", "") or "")
    if not organisation and host.endswith(CLOUD_SUFFIX):
        organisation = host.removesuffix(CLOUD_SUFFIX)
    elif not organisation and len(segments) >= 2 and segments[-2] == "api":
        organisation = segments[-1]  # on-prem: the collection
    where = host + "".join(f"/{s}" for s in segments)
    return {"type": settings.type, "url": where, "organisation": organisation}


def folder_name(settings: TargetSettings) -> str:
    bound = binding(settings)
    return re.sub(r"[^a-z0-9._-]+", "-", f"{bound['type']}-{bound['url']}".lower()).strip("-.") or "target"
