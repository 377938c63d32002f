"""Atlan target settings: read from ``lac.yaml`` once, validated, typed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...config import TargetConfig
from ...errors import ConfigError
from ..settings import names_setting, rate_setting, whole_setting

DEFAULT_TOKEN_ENV = "ATLAN_API_KEY"
DEFAULT_BASE_URL_ENV = "ATLAN_BASE_URL"
DEFAULT_ENTITIES_PER_REQUEST = 20  # the Lineage Builder's default batch of entities a request
# "400 requests/minute: the global limit on programmatic API calls ... global per instance"
# (Atlan, API limits, batching, and automation reference; not found in the API reference or pyatlan).
DEFAULT_RATE_LIMIT = 400
DELETE_TYPES = ("SOFT", "HARD", "PURGE")
_CONNECTIONS = "keys '<platform>' or '<platform>/<connection name>'"


@dataclass(frozen=True)
class AtlanSettings:
    """Naming and request shaping of an Atlan target; ``parse`` raises ConfigError naming the setting.
    ``base_url`` may be '' here (it is needed only once a request is made)."""

    base_url: str = ""
    token_env: str = DEFAULT_TOKEN_ENV
    connections: Mapping[str, str] = field(default_factory=dict)
    process_connection: str = ""
    asset_types: Mapping[str, str] = field(default_factory=dict)
    entities_per_request: int = DEFAULT_ENTITIES_PER_REQUEST
    search_page_size: int = 100
    delete_type: str = "SOFT"
    max_parallel: int = 4
    rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT

    @classmethod
    def parse(cls, config: TargetConfig) -> AtlanSettings:
        s = config.settings
        delete_type = str(s.get("delete_type") or "SOFT").upper()
        if delete_type not in DELETE_TYPES:
            raise ConfigError(f"target {config.name!r}: delete_type must be one of {', '.join(DELETE_TYPES)}, "
                              f"not {s.get('delete_type')!r}")
        return cls(base_url=str(s.get("base_url") or os.environ.get(DEFAULT_BASE_URL_ENV, "")),
                   token_env=str(s.get("token_env", DEFAULT_TOKEN_ENV)),
                   connections=names_setting(config, "connections", _CONNECTIONS),
                   process_connection=str(s.get("process_connection") or ""),
                   asset_types=names_setting(config, "asset_types", "manifest asset type -> Atlan typeName"),
                   entities_per_request=whole_setting(config, "entities_per_request", DEFAULT_ENTITIES_PER_REQUEST,
                                                      minimum=1),
                   search_page_size=whole_setting(config, "search_page_size", 100, minimum=1),
                   delete_type=delete_type, max_parallel=whole_setting(config, "max_parallel", 4, minimum=1),
                   rate_limit_per_minute=rate_setting(config, DEFAULT_RATE_LIMIT))
