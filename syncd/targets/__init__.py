"""Licence targets, one module per `type`."""

from __future__ import annotations

import importlib

from syncd.targets.interface import TargetSettings, TargetType

TARGET_MODULES: dict[str, str] = {
    "timetracker": "syncd.targets.timetracker",
    "trackingtime": "syncd.targets.trackingtime",
}


def target_type(name: str) -> TargetType[TargetSettings]:
    """The type registered under `name`, seen through the settings Protocol (as `source_type`): `open` is
    only ever handed the settings its own `parse` made, so no target narrows them."""
    module = importlib.import_module(TARGET_MODULES[name])
    kind: TargetType[TargetSettings] = module.TARGET_TYPE
    return kind
