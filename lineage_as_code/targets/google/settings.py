"""Google Data Lineage target settings: read from ``lac.yaml`` once, validated, typed."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import TargetConfig
from ...errors import ConfigError
from ..http import require_settings
from ..settings import number_setting, rate_setting, switch_setting, whole_setting

API, OPENLINEAGE = "api", "openlineage"
WRITE_MODES = (API, OPENLINEAGE)


@dataclass(frozen=True)
class GoogleSettings:
    """Where the lineage lives and how it is written; ``parse`` raises ConfigError naming the setting."""

    project: str
    location: str
    write_mode: str = API
    origin_name: str = "lineage-as-code"
    column_lineage: bool = True
    refresh_events: bool = False
    operation_poll_interval: float = 1.0
    operation_timeout: float = 600.0
    max_parallel: int = 4
    rate_limit_per_minute: float | None = None  # Google publishes no Data Lineage quota
    token_env: str = ""  # '' : Application Default Credentials

    @property
    def openlineage(self) -> bool:
        return self.write_mode == OPENLINEAGE

    @classmethod
    def parse(cls, config: TargetConfig) -> GoogleSettings:
        s = config.settings
        require_settings(config, ("project", "location"),
                         "the Google Cloud project id and the Data Lineage location, e.g. 'us' or 'europe-west1'")
        write_mode = str(s.get("write_mode", API))
        if write_mode not in WRITE_MODES:
            raise ConfigError(f"target {config.name!r}: write_mode {write_mode!r} is not supported; use "
                              f"{' or '.join(repr(m) for m in WRITE_MODES)}")
        return cls(project=str(s["project"]), location=str(s["location"]), write_mode=write_mode,
                   origin_name=str(s.get("origin_name", "lineage-as-code")),
                   # Custom OpenLineage events materialise table-level lineage only (Google's mapping page).
                   column_lineage=switch_setting(config, "column_lineage", True) and write_mode != OPENLINEAGE,
                   refresh_events=switch_setting(config, "refresh_events", False),
                   operation_poll_interval=number_setting(config, "operation_poll_interval", 1.0, minimum=0),
                   operation_timeout=number_setting(config, "operation_timeout", 600.0, minimum=0),
                   max_parallel=whole_setting(config, "max_parallel", 4, minimum=1),
                   rate_limit_per_minute=rate_setting(config, None),
                   token_env=str(s.get("token_env", "")))
