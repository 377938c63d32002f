"""The target registry: one line per vendor, imported only when a project uses it."""

from __future__ import annotations

import importlib

from ..config import TargetConfig
from ..errors import ConfigError
from .base import Target

REGISTRY: dict[str, str] = {
    "duckdb": "lineage_as_code.targets.duckdb:DuckDBTarget",
    "google": "lineage_as_code.targets.google:GoogleTarget",
    "alation": "lineage_as_code.targets.alation:AlationTarget",
    "huawei": "lineage_as_code.targets.huawei:HuaweiTarget",
    "secoda": "lineage_as_code.targets.secoda:SecodaTarget",
    "atlan": "lineage_as_code.targets.atlan:AtlanTarget",
}


def open_target(config: TargetConfig) -> Target:
    """Instantiate the target named by ``config.type``; raise ConfigError when it is unknown."""
    spec = REGISTRY.get(config.type)
    if spec is None:
        raise ConfigError(f"target {config.name!r}: unknown type {config.type!r}")
    module_name, class_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(f"target {config.name!r}: type {config.type!r} is not available in this build") from exc
    try:
        target: Target = getattr(module, class_name)(config)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # Vendor settings are left open by the schema; one of the wrong shape must not be a traceback.
        raise ConfigError(f"target {config.name!r} ({config.type}): a setting in lac.yaml has the wrong shape: "
                          f"{exc}") from exc
    return target
