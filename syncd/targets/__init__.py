"""Licence targets, one module per `type`."""

from __future__ import annotations

import importlib

from syncd.targets.interface import TargetType

TARGET_MODULES: dict[str, str] = {
    "timetracker": "syncd.targets.timetracker",
    "trackingtime": "syncd.targets.trackingtime",
}


def target_type(name: str) -> TargetType:
    module = importlib.import_module(TARGET_MODULES[name])
    kind: TargetType = module.TARGET_TYPE
    return kind
