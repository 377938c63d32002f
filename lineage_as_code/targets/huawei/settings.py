"""DataArts Studio target settings: read from ``lac.yaml`` once, validated, typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...config import TargetConfig
from ...errors import ConfigError
from ...plan.contract import AmbiguousFailure
from ..http import require_settings
from ..settings import rate_setting, whole_setting

DEFAULT_TOKEN_ENV = "HUAWEI_AUTH_TOKEN"
BODY_SETTINGS = ("cluster_id", "data_source_type", "connection_id", "connection_name")


@dataclass(frozen=True)
class HuaweiSettings:
    """What the target needs from its ``lac.yaml`` entry; ``parse`` raises ConfigError naming the setting."""

    project_id: str
    workspace: str
    region: str = ""
    catalogs: Mapping[str, str] = field(default_factory=dict)
    job_id: str = ""
    job_id_prefix: str = ""
    body: Mapping[str, str] = field(default_factory=dict)  # optional top-level request fields
    max_parallel: int = 4
    rate_limit_per_minute: float | None = None  # the lineage API's row of the per-minute table is unpublished
    token_env: str = DEFAULT_TOKEN_ENV
    ambiguous_failure: AmbiguousFailure = AmbiguousFailure.HOLD

    @classmethod
    def parse(cls, config: TargetConfig) -> HuaweiSettings:
        s = config.settings
        require_settings(config, ("project_id", "workspace"),
                         "DataArts Studio's project ID and workspace ID, both shown in the console")
        if not s.get("base_url") and not s.get("region"):
            raise ConfigError(f"target {config.name!r}: set region (e.g. cn-north-4) or base_url, the DataArts "
                              "Studio endpoint")
        policy = str(s.get("ambiguous_failure", AmbiguousFailure.HOLD.value))
        if policy not in (AmbiguousFailure.HOLD, AmbiguousFailure.RETRY):
            raise ConfigError(f"target {config.name!r}: ambiguous_failure must be 'hold' (the default: DataArts "
                              "offers no read-back to reconcile with) or 'retry'")
        catalogs = s.get("catalogs") or {}
        if not isinstance(catalogs, Mapping):
            raise ConfigError(f"target {config.name!r}: catalogs must map a platform to a DataArts catalog name")
        max_parallel = whole_setting(config, "max_parallel", 4, minimum=1)
        return cls(project_id=str(s["project_id"]), workspace=str(s["workspace"]), region=str(s.get("region", "")),
                   catalogs={str(k): str(v) for k, v in catalogs.items()}, job_id=str(s.get("job_id", "")),
                   job_id_prefix=str(s.get("job_id_prefix", "")),
                   body={k: str(s[k]) for k in BODY_SETTINGS if s.get(k)}, max_parallel=max(1, max_parallel),
                   rate_limit_per_minute=rate_setting(config, None),
                   token_env=str(s.get("token_env", DEFAULT_TOKEN_ENV)), ambiguous_failure=AmbiguousFailure(policy))
