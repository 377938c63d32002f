"""Secoda target settings: read from ``lac.yaml`` once, validated, typed."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import TargetConfig
from ..settings import rate_setting, switch_setting, whole_setting

DEFAULT_TOKEN_ENV = "SECODA_API_KEY"
DEFAULT_RATE_LIMIT = 30  # "30 calls/min on PUT/PATCH/POST" (Secoda API, helpful information)


@dataclass(frozen=True)
class SecodaSettings:
    """How the target talks to Secoda; ``parse`` raises ConfigError naming the setting."""

    token_env: str = DEFAULT_TOKEN_ENV
    lookup_chunk_size: int = 50
    column_lineage: bool = True
    max_parallel: int = 4
    rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT

    @classmethod
    def parse(cls, config: TargetConfig) -> SecodaSettings:
        return cls(token_env=str(config.settings.get("token_env", DEFAULT_TOKEN_ENV)),
                   lookup_chunk_size=whole_setting(config, "lookup_chunk_size", 50, minimum=1),
                   column_lineage=switch_setting(config, "column_lineage", True),
                   max_parallel=whole_setting(config, "max_parallel", 4, minimum=1),
                   rate_limit_per_minute=rate_setting(config, DEFAULT_RATE_LIMIT))
