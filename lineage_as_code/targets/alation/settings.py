"""Alation target settings: read from ``lac.yaml`` once, validated, typed."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import TargetConfig
from ...errors import ConfigError
from ..settings import number_setting, rate_setting

MAX_DATAFLOWS = 1000  # Alation's recommended ceiling of dataflows per lineage request
MAX_PATHS = 100  # "100 paths and 10 dataflows in each path" per request (lineage overview)


@dataclass(frozen=True)
class AlationSettings:
    """The request shaping of an Alation target (keys and credentials are read where they are used)."""

    external_id_prefix: str = "lac"
    max_dataflows: int = MAX_DATAFLOWS
    max_paths: int = MAX_PATHS
    poll_interval: float = 3.0
    job_timeout: float = 1800.0
    page_size: int = 1000
    send_title: bool = False
    delete_with: str = "dataflow"
    max_parallel: int = 1
    rate_limit_per_minute: float | None = None  # throttling is off unless the instance turns it on

    @classmethod
    def parse(cls, config: TargetConfig) -> AlationSettings:
        """Raise ConfigError naming the setting that has the wrong shape."""
        s, name = config.settings, config.name
        delete_with = str(s.get("delete_with", "dataflow"))
        if delete_with not in ("dataflow", "edges"):
            raise ConfigError(f"target {name!r}: delete_with must be 'dataflow' or 'edges'")
        dataflows = int(number_setting(config, "max_dataflows_per_request", MAX_DATAFLOWS))
        return cls(external_id_prefix=str(s.get("external_id_prefix", "lac")).strip("/"),
                   max_dataflows=max(1, min(MAX_DATAFLOWS, dataflows)),
                   max_paths=max(1, int(number_setting(config, "max_paths_per_request", MAX_PATHS) or MAX_PATHS)),
                   poll_interval=number_setting(config, "poll_interval", 3.0),
                   job_timeout=number_setting(config, "job_timeout", 1800.0),
                   page_size=max(1, int(number_setting(config, "page_size", 1000))),
                   send_title=bool(s.get("send_title", False)), delete_with=delete_with,
                   max_parallel=max(1, int(number_setting(config, "max_parallel", 1))),
                   rate_limit_per_minute=rate_setting(config, None))
