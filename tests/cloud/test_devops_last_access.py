"""Azure DevOps lastAccessedDate (issue 18's second signal) from the emulator's userentitlements, over HTTPS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.errors import SourceError
from syncd.sources.azure_devops_activity import read_last_access


@pytest.mark.parametrize("list_key", ["items", "members"])
def test_last_access_per_person_across_pages(cloud: Any, list_key: str) -> None:
    for name in ("ann", "bob", "cyd", "dee", "eve"):
        cloud.ado_dir.add_user(f"{name}@contoso.example")
    cloud.ado.entitlements.page_size = 2  # three pages, continuation tokens with "+/=#" in them
    cloud.ado.entitlements.list_key = list_key
    cloud.ado.entitlements.last_accessed.update(
        {"ann@contoso.example": "2026-11-30T08:15:00.123Z", "bob@contoso.example": "0001-01-01T00:00:00Z"}
    )
    source = cloud.open("azure_devops", cloud.ado_table())
    last = read_last_access(source, cloud.ado.base_url)
    assert last == {
        "ann@contoso.example": datetime(2026, 11, 30, 8, 15, 0, 123000, tzinfo=UTC),
        "bob@contoso.example": None,  # "never"
        "cyd@contoso.example": None,
        "dee@contoso.example": None,
        "eve@contoso.example": None,
    }
    assert sum(1 for r in cloud.ado.log if "userentitlements" in r.path) == 3


def test_plain_http_is_refused_for_an_https_source(cloud: Any) -> None:
    source = cloud.open("azure_devops", cloud.ado_table())
    with pytest.raises(SourceError, match="plain http; use https"):
        read_last_access(source, "http://vsaex.example")
