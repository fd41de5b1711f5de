"""The Samba AD DC gate and template that tests/ldap and tests/hardening share (helpers in tests/ldap)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ldap import ad_dataset, samba_dc


def require_samba(skipped: str) -> None:
    """Skip with the reason Samba is missing, prefixed by `skipped`; with SYNCD_REQUIRE_SAMBA=1 (set by
    .ci/run) fail instead, so CI cannot pass without running the Samba tests."""
    reason = samba_dc.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("SYNCD_REQUIRE_SAMBA") == "1":
        pytest.fail(f"SYNCD_REQUIRE_SAMBA=1 but {reason}", pytrace=False)
    pytest.skip(f"{skipped}: {reason}")


def base_template() -> tuple[Path, dict[str, float]]:
    """The provisioned and populated directory (built once, cached across sessions by data set version) and
    how long each step took."""
    template, timings = samba_dc.cached_template(
        f"base-{ad_dataset.DATASET_VERSION}",
        lambda dc: ad_dataset.populate(dc.host, samba_dc.ADMIN_DN, samba_dc.ADMIN_PASSWORD),
    )
    return Path(template), timings
