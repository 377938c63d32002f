"""The error tree: every error the CLI can show, with the exit code it maps to.

    LineageAsCodeError                  any failure a user can act on (exit 1)
    ├── UsageError                      the command line is wrong (unknown flag, missing argument)
    ├── ConfigError                     lac.yaml is missing, unreadable or invalid
    ├── SourceError                     a path or URI could not be listed or read
    ├── ManifestError                   manifests failed validation; carries every Problem
    ├── CompileError                    a dbt manifest, OpenLineage events or SQL could not be compiled
    ├── ApprovalError                   apply was not approved (no terminal and no --auto-approve)
    ├── PlanError                       the plan cannot be built (e.g. a mode a target refuses)
    │   └── StalePlanError              a saved plan no longer matches the state (exit 3)
    ├── StateError                      state could not be read or written
    │   ├── StateConflictError          the state moved under us (compare-and-swap failed)
    │   └── LockError                   the state is locked by someone else; names the holder
    ├── ApplyError                      some changes failed; state holds what succeeded
    │   ├── MassDeleteError             the plan deletes more than max_deletes allows
    │   └── ApplyStoppedError           apply stopped at --max-duration; state holds what it did (exit 4)
    └── TargetError                     a vendor call failed
        ├── TransientTargetError        retrying may help (429, 5xx, timeouts, dropped connections)
        └── TerminalTargetError         retrying will not help (4xx, bad payload)
            └── AuthError               the credentials were refused: the run stops at once

Third-party exceptions (httpx, boto3, cloud SDKs, duckdb) are translated into these at the
module that calls them, always with ``raise ... from exc``. Findings that do not stop a run (a
directory link loop, an alias nobody uses) are ``ManifestWarning``s, emitted through Python's
warnings and printed by the CLI's console.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One validation finding, located at ``file:line`` and a dotted field path."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class LineageAsCodeError(Exception):
    """Base class; ``exit_code`` is what the CLI returns when this error ends a command."""

    exit_code = 1


class UsageError(LineageAsCodeError):
    """The command line is wrong; exits 1 like any error, never 2 (which means "changes present")."""


class ConfigError(LineageAsCodeError):
    """lac.yaml is missing, unreadable or invalid."""


class SourceError(LineageAsCodeError):
    """A manifest path or URI could not be listed or read."""


class ManifestError(LineageAsCodeError):
    """One or more manifests are invalid; ``problems`` lists every finding, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CompileError(LineageAsCodeError):
    """An input to ``lac compile`` (dbt manifest, OpenLineage events, SQL) cannot be read as lineage."""


class ApprovalError(LineageAsCodeError):
    """An apply nobody approved: no terminal to ask on and no --auto-approve."""


class PlanError(LineageAsCodeError):
    """The plan cannot be built as asked."""


class StalePlanError(PlanError):
    """A saved plan was made against a state that has since changed."""

    exit_code = 3


class StateError(LineageAsCodeError):
    """State could not be read or written."""


class StateConflictError(StateError):
    """The state's serial moved between read and write."""


class LockError(StateError):
    """The state is locked; the message names the holder and how to force-unlock."""


class ApplyError(LineageAsCodeError):
    """Some changes failed to apply; everything that succeeded is recorded in state."""


class MassDeleteError(ApplyError):
    """The plan deletes more resources than ``max_deletes`` allows."""


class ApplyStoppedError(ApplyError):
    """Apply stopped at a batch boundary when ``--max-duration`` ran out; state records every change
    made, and the next apply resumes from there."""

    exit_code = 4


class TargetError(LineageAsCodeError):
    """A call to a target failed."""


class TransientTargetError(TargetError):
    """A failure that a retry may fix."""


class TerminalTargetError(TargetError):
    """A failure that a retry will not fix."""


class AuthError(TerminalTargetError):
    """The target refused the credentials (401/403). Every further call would fail the same way,
    so apply stops with this one message instead of failing each item."""


class ManifestWarning(UserWarning):
    """A finding about the input that does not stop the run; ``problem`` locates it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem
