"""Reading a target's own settings from its ``lac.yaml`` entry: numbers, switches and mappings,
each checked once so a setting of the wrong shape is a ConfigError naming it, never a traceback
from deep inside a request. Each vendor's ``settings.py`` builds its typed dataclass with these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import TargetConfig
from ..errors import ConfigError


def number_setting(config: TargetConfig, name: str, default: float, *, minimum: float | None = None) -> float:
    """The number setting ``name`` (``default`` when absent); ConfigError naming it when it is not a
    number or is below ``minimum``."""
    value = config.settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"target {config.name!r}: {name} must be a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"target {config.name!r}: {name} must be a number") from exc
    if minimum is not None and number < minimum:
        raise ConfigError(f"target {config.name!r}: {name} must be at least {minimum:g}")
    return number


def whole_setting(config: TargetConfig, name: str, default: int, *, minimum: int | None = None) -> int:
    """The whole-number setting ``name``; ConfigError naming it when it is not one or is below ``minimum``."""
    number = number_setting(config, name, default, minimum=minimum)
    if number != int(number):
        raise ConfigError(f"target {config.name!r}: {name} must be a whole number")
    return int(number)


def switch_setting(config: TargetConfig, name: str, default: bool) -> bool:
    """The true/false setting ``name``; ConfigError naming it for anything else (``"no"`` is not false)."""
    value = config.settings.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"target {config.name!r}: {name} must be true or false")
    return value


def rate_setting(config: TargetConfig, documented: float | None) -> float | None:
    """Requests a minute the client is held to: ``rate_limit_per_minute`` when set (0 turns spacing
    off), else ``documented``, the vendor's published limit (None: no limit)."""
    if "rate_limit_per_minute" not in config.settings:
        return documented
    limit = number_setting(config, "rate_limit_per_minute", 0, minimum=0)
    return limit or None


def names_setting(config: TargetConfig, name: str, what: str) -> dict[str, str]:
    """A mapping of names (``connections``, ``catalogs``...); ConfigError saying what it maps otherwise."""
    value: Any = config.settings.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"target {config.name!r}: {name} must be a mapping ({what}), not {value!r}")
    return {str(k): str(v) for k, v in value.items()}
