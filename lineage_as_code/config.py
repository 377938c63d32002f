"""lac.yaml -> Config: manifests, state location, defaults and named targets.

Validated by ``schemas/config.schema.json``; every problem is reported as ``lac.yaml:LINE: field:
message``. Secrets never live here: a target names the environment variable that holds its token
(``token_env``), and a key that looks like an inline secret is refused. Without a lac.yaml the
project is the embedded DuckDB target at ``.lac/lineage.duckdb`` with state in ``.lac/state.json``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import ConfigError, ManifestError, Problem
from .manifest import EdgeLimits
from .manifest.validate import schema_problems
from .manifest.yaml_reader import load_yaml
from .plan.contract import InputHandling, Policy
from .sources import is_remote, read_object

CONFIG_NAME = "lac.yaml"
DEFAULT_STATE = ".lac/state.json"
DEFAULT_DUCKDB = ".lac/lineage.duckdb"
_SECRET_KEYS = {"token", "password", "secret", "api_key", "apikey", "access_key", "secret_key", "client_secret", "key"}
_MANIFEST_DEFAULT_KEYS = ("platform", "database", "schema")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a message may print as a variable's name: the usual spelling, short. Anything else (a
# lower-case mix of letters and digits, say) may be a token pasted in the wrong place.
_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")

__all__ = ["CONFIG_NAME", "Config", "InputHandling", "Policy", "TargetConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class TargetConfig:
    """One named target: its type, its own settings (vendor-specific) and its policy."""

    name: str
    type: str
    settings: Mapping[str, Any]
    policy: Policy


@dataclass(frozen=True)
class Config:
    """A project: where manifests and state live, and the targets they are applied to."""

    root: Path
    manifests: tuple[str, ...]
    state_path: str
    targets: Mapping[str, TargetConfig]
    manifest_defaults: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    field_separator: str | None = None
    cache_dir: Path | None = None  # where translated resources are cached; None: no cache
    edge_limits: EdgeLimits = field(default_factory=EdgeLimits)
    allow_outside_root: bool = False  # local manifests listed in lac.yaml may resolve outside root
    source: Path | None = None  # the local lac.yaml itself, never read as a manifest

    def select(self, names: list[str] | None) -> list[TargetConfig]:
        """Return the named targets (all when ``names`` is empty); raise ConfigError for unknown names."""
        if not names:
            return list(self.targets.values())
        unknown = [n for n in names if n not in self.targets]
        if unknown:
            raise ConfigError(f"unknown target(s) {', '.join(unknown)}; lac.yaml defines {', '.join(self.targets)}")
        return [self.targets[n] for n in names]


def resolve_path(root: Path, spec: str) -> str:
    """Return ``spec`` resolved against the project root unless it is absolute or a URI."""
    if "://" in spec or Path(spec).is_absolute():
        return spec
    return str(root / spec)


def default_config(root: Path, manifests: tuple[str, ...] = ()) -> Config:
    """The zero-configuration project: embedded DuckDB target and local state under ``.lac/``."""
    duck = TargetConfig("local", "duckdb", MappingProxyType({"path": resolve_path(root, DEFAULT_DUCKDB)}), Policy())
    return Config(root, manifests, resolve_path(root, DEFAULT_STATE), MappingProxyType({"local": duck}),
                  cache_dir=root / ".lac" / "cache")


def describe_variable(name: str, setting: str) -> str:
    """How a message names the environment variable ``name`` that ``setting`` gave: by name when it
    looks like one (``ATLAN_TOKEN``), else without it, since it may be a token pasted by mistake."""
    if _VARIABLE_NAME.fullmatch(name):
        return f"environment variable {name}"
    return (f"the environment variable named by {setting} (its value is not shown: it does not look like a "
            "variable name; was the token itself pasted there?)")


def _secret_problems(raw: dict[str, Any], lines: Any, name: str) -> list[Problem]:
    problems = []
    targets = raw.get("targets")
    for tname, target in (targets.items() if isinstance(targets, dict) else ()):
        if isinstance(target, dict):
            for key in target:
                if str(key).lower() in _SECRET_KEYS:
                    path = ("targets", tname, key)
                    problems.append(Problem(name, lines.line(path), f"targets.{tname}.{key}",
                                            "secrets must not be written in lac.yaml: put the value in an "
                                            "environment variable and name it with token_env"))
    return problems


def _variable_name_problems(raw: dict[str, Any], lines: Any, name: str) -> list[Problem]:
    """``token_env`` (and ``*_env``) values that are not variable names, reported without the value."""
    problems = []
    targets = raw.get("targets")
    for tname, target in (targets.items() if isinstance(targets, dict) else ()):
        for key, value in (target.items() if isinstance(target, dict) else ()):
            if str(key).endswith("_env") and not (isinstance(value, str) and _ENV_NAME.fullmatch(value)):
                problems.append(Problem(name, lines.line(("targets", tname, key)), f"targets.{tname}.{key}",
                                        "must be the name of an environment variable (letters, digits and _), "
                                        "not the secret itself; the value is not shown"))
    return problems


def _config_problems(raw: Any, lines: Any, name: str) -> list[Problem]:
    """Every problem of a parsed lac.yaml. An inline secret is reported first and alone: nothing
    else is worth reading until it is out of the file (and no other message may quote it)."""
    if raw is None:
        return [Problem(name, 1, "", "empty configuration: expected 'version: 1'")]
    if not isinstance(raw, dict):
        return schema_problems(raw, "config", name, lines.line)
    secrets = _secret_problems(raw, lines, name)
    if secrets:
        return secrets
    problems = _variable_name_problems(raw, lines, name)
    return problems + [p for p in schema_problems(raw, "config", name, lines.line)
                       if not any(p.field == q.field for q in problems)]


def parse_config(name: str, data: bytes, root: Path) -> Config:
    """Parse and validate lac.yaml bytes; raise ConfigError listing every problem."""
    raw, lines, problems = load_yaml(name, data)
    if not problems:
        problems = _config_problems(raw, lines, name)
    if problems:
        raise ConfigError(str(ManifestError(problems)))
    defaults = raw.get("defaults") or {}
    base = Policy().merged(defaults)
    targets = {}
    for tname, t in (raw.get("targets") or {"local": {"type": "duckdb", "path": DEFAULT_DUCKDB}}).items():
        settings = dict(t)
        if "path" in settings:
            settings["path"] = resolve_path(root, settings["path"])
        targets[tname] = TargetConfig(tname, t["type"], MappingProxyType(settings), base.merged(t))
    state = (raw.get("state") or {}).get("path", DEFAULT_STATE)
    return Config(
        root=root,
        manifests=tuple(raw.get("manifests") or ()),
        state_path=resolve_path(root, state),
        targets=MappingProxyType(targets),
        manifest_defaults=MappingProxyType({k: str(defaults[k]) for k in _MANIFEST_DEFAULT_KEYS if k in defaults}),
        field_separator=defaults.get("field_separator"),
        cache_dir=root / ".lac" / "cache",
        edge_limits=EdgeLimits(int(defaults.get("warn_edges_per_process", EdgeLimits.warn)),
                               int(defaults.get("max_edges_per_process", EdgeLimits.max))),
        allow_outside_root=bool(raw.get("allow_outside_root", False)),
    )


def _load_remote(location: str) -> Config:
    """lac.yaml kept in a bucket: relative manifest and state entries resolve against its folder."""
    data = read_object(location)
    config = parse_config(location, data, Path.cwd())
    folder = location.rsplit("/", 1)[0] + "/"
    raw = yaml.safe_load(data) or {}
    state = str((raw.get("state") or {}).get("path", DEFAULT_STATE))

    def under(spec: str) -> str:
        return spec if is_remote(spec) or os.path.isabs(spec) else folder + spec

    return replace(config, manifests=tuple(under(m) for m in config.manifests), state_path=under(state),
                   cache_dir=None)


def load_config(path: str | None = None, cwd: Path | None = None) -> Config:
    """Load ``path`` (a local file or an object URI; ./lac.yaml when None and present); fall back to
    the zero-configuration project."""
    if path and is_remote(path):
        return _load_remote(path)
    cwd = cwd or Path.cwd()
    file = Path(path) if path else cwd / CONFIG_NAME
    if not file.exists():
        if path:
            raise ConfigError(f"{path}: no such configuration file")
        return default_config(cwd)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from exc
    shown = path or CONFIG_NAME
    config = parse_config(shown, data, file.parent.resolve() if path else cwd)
    return replace(config, source=file.resolve())
