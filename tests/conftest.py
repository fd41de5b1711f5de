"""What every test area shares: each test starts and ends with structlog's and the standard library's
logging defaults. `syncd.cli.main()` configures both onto that test's (captured, later closed) stderr, so a
test that follows one which ran main() would otherwise log into a closed stream."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
