"""The ``lac`` command line: each command parses its arguments, calls one library function and
renders the result through the console. Errors print as messages with their exit code, never as
tracebacks: 0 success, 1 error, 2 changes present (``plan --detailed-exitcode``), 3 stale plan.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .config import load_config
from .console import Console
from .errors import LineageAsCodeError, ManifestError
from .project import load_manifests


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    result = load_manifests(config, args.paths)
    lin = result.lineage
    console.print(
        f"valid: {len(result.files)} file(s), {len(lin.processes)} process(es), {lin.edge_count} edge(s), "
        f"{lin.column_edge_count} column edge(s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lac", description="Data lineage as code: validate, plan and apply.")
    parser.add_argument("--version", action="version", version=f"lac {__version__}")
    parser.add_argument("-c", "--config", help="path to lac.yaml (default: ./lac.yaml when present)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate manifests and report every problem as file:line")
    p.add_argument("paths", nargs="*", help="files, folders, globs or URIs (default: lac.yaml's manifests)")
    p.set_defaults(func=_cmd_validate)

    from .cli_plan import add_plan_commands

    add_plan_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    console = console or Console()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, console))
    except ManifestError as exc:
        for problem in exc.problems:
            console.error(str(problem))
        console.error(f"error: {len(exc.problems)} problem(s) found")
        return exc.exit_code
    except LineageAsCodeError as exc:
        console.error(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
