"""The ``lac`` command line: each command parses its arguments, calls one library function and
renders the result through the console. Errors print as messages with their exit code, never as
tracebacks: 0 success, 1 error, 2 changes present (``plan --detailed-exitcode``), 3 stale plan.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

from . import __version__
from .config import load_config
from .console import Console
from .errors import ApprovalError, LineageAsCodeError, ManifestError, ManifestWarning, PlanError, UsageError
from .graph import GRAPH_FORMATS, GraphRequest, render_project_graph
from .model import pad_heap_growth
from .outputs import STDOUT, check_plan_destination, write_plan_file
from .plan.mermaid import build_context_edges
from .plan.model import Plan
from .plan.planfile import dump_plan, iter_plan_json, load_plan
from .plan.render import render_markdown, render_text
from .project import load_manifests, read_manifests
from .sources import read_object, write_object
from .state import open_state_store
from .triggers.events import handle_event
from .workflow import PlanRequest, apply_project, plan_project

_kept: list[object] | None = None  # what the commands of a console run built (``run``): freed by the exit


def _keep(*values: object) -> None:
    """Keep ``values`` to the end of a console run, which exits without freeing them: freeing what a
    million-row plan built took 4% to 5% of the command. A caller of ``main`` in its own process frees them
    as usual."""
    if _kept is not None:
        _kept.extend(values)


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    result = load_manifests(config, args.paths)
    _keep(result)
    lin = result.lineage
    if args.check_sql:
        from .compile.derive import build_sql_findings

        findings = build_sql_findings(lin)
        if findings:
            raise ManifestError(findings)
    console.print(
        f"valid: {len(result.files)} file(s), {len(lin.processes)} process(es), {lin.edge_count} edge(s), "
        f"{lin.column_edge_count} column edge(s)"
    )
    return 0


def _cmd_compile(args: argparse.Namespace, console: Console) -> int:
    from .compile.run import write_dbt_manifests, write_openlineage_manifests

    if args.compile_command == "dbt":
        report = write_dbt_manifests(args.manifest, args.out, args.catalog, args.columns, args.jobs)
    else:
        report = write_openlineage_manifests(args.events, args.out)
    for note in report.notes:
        console.info(f"note: {note}")
    console.print(f"compiled {report.processes} process(es), {report.column_edges} column edge(s) from "
                  f"{report.compiled_from} into {', '.join(report.paths) or 'no file'}")
    return 0


def _render(plan: Plan, fmt: str, console: Console, show_unmanaged: bool = False,
            context: Iterable[tuple[str, str]] = (), detail: bool = False) -> str:
    if fmt == "json":
        return dump_plan(plan)
    if fmt == "markdown":
        return render_markdown(plan, context, detail)
    return render_text(plan, console.paint, show_unmanaged, detail)


def _request(args: argparse.Namespace) -> PlanRequest:
    return PlanRequest(tuple(args.paths), tuple(args.target or ()), args.refresh)


def _cmd_plan(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    if args.out and args.out != STDOUT:
        check_plan_destination(args.out, config.state_path)  # before planning, which may take a while
    loaded = read_manifests(config, args.paths, remember=True)
    plan = plan_project(config, _request(args), loaded, keep_lineage=args.format == "markdown")
    _keep(plan, loaded)
    # The picture's context is the lineage the plan was made from (parsed once, or now on a cache hit).
    context = build_context_edges(loaded.lineage) if args.format == "markdown" and plan.has_changes else ()
    rendered = _render(plan, args.format, console, args.show_unmanaged, context, args.detail)
    if args.out == STDOUT:  # the saved plan takes stdout; the rendering goes to stderr
        for piece in iter_plan_json(plan):
            console.write(piece)
        if args.format != "json":
            console.info(rendered.rstrip("\n"))
        return 2 if args.detailed_exitcode and plan.has_changes else 0
    if args.out:
        write_plan_file(args.out, iter_plan_json(plan), config.state_path)
    console.write(rendered)
    if args.out and args.format == "text":
        console.print(f"Saved the plan to {args.out}; apply exactly this plan with: lac apply {args.out}")
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _confirm(console: Console, auto: bool, saved: bool, detail: bool = False) -> Callable[[Plan], bool]:
    """Show the plan; a saved plan was reviewed already, otherwise ask (or require --auto-approve)."""
    def ask(plan: Plan) -> bool:
        console.write(render_text(plan, console.paint, detail=detail))
        if auto or saved:
            return True
        if not sys.stdin.isatty():
            raise ApprovalError("apply needs approval: review the plan above and re-run with --auto-approve, "
                                "or apply a reviewed plan file (lac plan --out plan.json; lac apply plan.json)")
        console.write("Apply these changes? Only 'yes' is accepted: ")
        return input().strip() == "yes"
    return ask


def _saved_plan(paths: Sequence[str]) -> tuple[str, Plan] | None:
    """The saved plan apply was given, read and checked once, or None for manifests; a .json that is no
    plan at all is a usage error, a plan file the schema refuses a PlanError naming its problems."""
    plans = [p for p in paths if p.endswith(".json")]
    if plans and len(paths) > 1:
        raise UsageError("a saved plan is applied on its own (lac apply PLAN.json), without manifests; "
                         "to plan and apply manifests, name only YAML or CSV files and folders")
    if not plans:
        return None
    data = read_object(plans[0])
    try:
        return plans[0], load_plan(data, plans[0], bodies=False)  # only verified: one digest per change
    except PlanError:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict) and "format_version" in doc and "targets" in doc:
            raise  # a plan, but not one this version applies: the PlanError names why
        raise UsageError(f"{plans[0]} is not a saved plan (the JSON 'lac plan --out' writes); "
                         "manifests are YAML or CSV files") from None


def _duration(text: str) -> float:
    """``90``, ``90s``, ``50m`` or ``2h`` as seconds (argparse type)."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 50m or 2h") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return seconds


def _cmd_apply(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    saved = _saved_plan(args.paths)
    plan_file = saved[0] if saved else None
    handed = [saved[1]] if saved else []  # handed to apply, which lets it go once verified: not kept here
    del saved
    paths = [] if plan_file else list(args.paths)
    request = PlanRequest(tuple(paths), tuple(args.target or ()), args.refresh, args.retry_uncertain)
    if plan_file and args.retry_uncertain:
        raise UsageError("--retry-uncertain applies manifests, not a saved plan: run lac apply --retry-uncertain")
    with console.progress_bar("Applying") as advance:
        plan, report = apply_project(config, request, plan_file=plan_file, saved_plan=handed.pop() if handed else None,
                                     allow_mass_delete=args.allow_mass_delete,
                                     confirm=_confirm(console, args.auto_approve, plan_file is not None, args.detail),
                                     progress=console.info if not console.interactive else lambda _: None,
                                     advance=advance, max_duration=args.max_duration,
                                     let_go=True)  # (only its count of changes is read below)
    _keep(plan)
    if report is None:
        console.print("No changes. The targets match the manifests." if not plan.has_changes else "Apply cancelled.")
        for t in plan.targets:  # writes held as uncertain are not changes, but the user must still hear of them
            for note in (w for w in t.warnings if "--retry-uncertain" in w):
                console.print(f"{t.name}: {note}")
        return 0
    console.print(report.summary())
    return 0


def _cmd_show(args: argparse.Namespace, console: Console) -> int:
    console.write(_render(load_plan(read_object(args.plan_file), args.plan_file), args.format, console,
                          detail=args.detail))
    return 0


def _cmd_state(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    store = open_state_store(config.state_path)
    state = store.read()
    if args.state_command == "list":
        for target, entries in state.targets.items():
            for address, entry in entries.items():
                console.print(f"{target}\t{address}\t{entry.id}")
        return 0
    if args.state_command == "show":
        if not args.address:
            console.write(state.to_json().decode())
            return 0
        found = [(t, entries[args.address]) for t, entries in state.targets.items() if args.address in entries]
        if not found:
            console.error(f"{args.address} is not in state")
            return 1
        for target, entry in found:
            console.print(json.dumps({"target": target, "address": args.address, "kind": entry.kind, "id": entry.id,
                                      "hash": entry.hash, "partial": entry.partial, "edges": entry.edges}, indent=2))
        return 0
    if args.state_command == "rebuild":
        from .rebuild import rebuild_state

        report = rebuild_state(config, list(args.targets), args.lineage or "", args.force)
        if not report.lineage:
            console.print("No resource in the targets carries an ownership marker of this tool; nothing to rebuild.")
            return 1
        counts = ", ".join(f"{n} in {t}" for t, n in report.recorded.items())
        console.print(f"Rebuilt state serial {report.serial} of lineage {report.lineage}: {counts}. "
                      "Run 'lac plan' to see what remains to do.")
        return 0
    if args.state_command == "rm":
        lock = store.lock("state rm")
        try:
            state = store.read()
            entries = state.entries(args.target_name)
            missing = [a for a in args.addresses if a not in entries]
            if missing:
                console.error(f"not in state for {args.target_name}: {', '.join(missing)}")
                return 1
            store.write(state.updated(args.target_name, {}, set(args.addresses)), expected_serial=state.serial)
        finally:
            store.unlock(lock)
        console.print(f"Removed {len(args.addresses)} address(es) from state; the target itself was not changed.")
        return 0
    return 1


def _cmd_force_unlock(args: argparse.Namespace, console: Console) -> int:
    store = open_state_store(load_config(args.config).state_path)
    store.force_unlock(args.lock_id)
    console.print(f"Lock {args.lock_id} removed.")
    return 0


def _cmd_pr_comment(args: argparse.Namespace, console: Console) -> int:
    from .github import PublishRequest, publish_plan_comment  # HTTP only here: plans start faster without it

    request = PublishRequest(args.repo or os.environ.get("GITHUB_REPOSITORY", ""), args.pr, args.file,
                             args.labels_from or "", args.labels, args.key or "", args.details_url or "",
                             args.token_env)
    result = publish_plan_comment(request, os.environ)
    note = " (cut to fit GitHub's comment limit)" if result.truncated else ""
    console.print(f"{result.action.capitalize()} plan comment {result.url or result.comment_id}{note}")
    if result.labels_added or result.labels_removed:
        console.print(f"Labels: +{', +'.join(result.labels_added) or ' none'}; "
                      f"-{', -'.join(result.labels_removed) or ' none'}")
    return 0


def _cmd_graph(args: argparse.Namespace, console: Console) -> int:
    text = render_project_graph(load_config(args.config), GraphRequest(tuple(args.paths), args.format,
                                                                        args.around, args.depth))
    if args.out and args.out != STDOUT:
        write_object(args.out, text.encode())
        console.print(f"Wrote the {args.format} graph to {args.out}")
    else:
        console.write(text)
    return 0


def _cmd_import(args: argparse.Namespace, console: Console) -> int:
    from .catalog_import import ImportRequest, write_import

    request = ImportRequest(args.target_name, args.out, args.owned, args.adopt, args.force, tuple(args.filter or ()),
                            args.format)
    with console.progress_bar("Reading") as advance:
        report = write_import(load_config(args.config), request, advance)
    for note in report.notes:
        console.info(f"note: {note}")
    console.print(report.summary())
    return 0


def _cmd_handle_event(args: argparse.Namespace, console: Console) -> int:
    payload = sys.stdin.buffer.read() if args.event_file == "-" else read_object(args.event_file)
    for outcome in handle_event(payload, args.config, progress=console.info):
        console.print(outcome.summary())
    return 0


DETAIL_HELP = "list every change even when a target has more than 1,000 (else summarised per action, kind and file)"


def _add_plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detail", action="store_true", help=DETAIL_HELP)
    p.add_argument("paths", nargs="*", help="manifests (default: lac.yaml's); for apply, or a saved plan .json")
    p.add_argument("-t", "--target", action="append", help="limit to this target (repeatable)")
    p.add_argument("--refresh", action=argparse.BooleanOptionalAction, default=True,
                   help="read what each target holds to detect drift (default: on)")


class _Parser(argparse.ArgumentParser):
    """Usage errors become UsageError (exit 1): argparse's own exit 2 would read as "changes present"."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def _accept_global_flags(parser: argparse.ArgumentParser) -> None:
    """Let -c/--config come after the subcommand too (``lac plan -c lac.yaml``)."""
    for action in parser._actions:
        for sub in action.choices.values() if isinstance(action, argparse._SubParsersAction) else ():
            sub.add_argument("-c", "--config", default=argparse.SUPPRESS, help="path to lac.yaml")
            _accept_global_flags(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lac", description="Data lineage as code: validate, plan and apply.")
    parser.add_argument("--version", action="version", version=f"lac {__version__}")
    parser.add_argument("-c", "--config", help="path to lac.yaml (default: ./lac.yaml when present)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate manifests and report every problem as file:line")
    p.add_argument("paths", nargs="*", help="files, folders, globs or URIs (default: lac.yaml's manifests)")
    p.add_argument("--check-sql", action="store_true", help="report where a process's sql and its inputs disagree")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("compile", help="compile dbt's manifest.json or OpenLineage events into manifests")
    csub = p.add_subparsers(dest="compile_command", required=True)
    c = csub.add_parser("dbt", help="models, seeds, snapshots and exposures, with column lineage from SQL")
    c.add_argument("manifest", help="dbt's target/manifest.json (schema v7 to v12)")
    c.add_argument("--catalog", help="dbt's target/catalog.json: column names and types for SELECT *")
    c.add_argument("--columns", action=argparse.BooleanOptionalAction, default=True, help="column lineage (default: on)")
    c.add_argument("--jobs", type=int, help="processes tracing column lineage (default: one per core)")
    c.add_argument("--out", default="compiled", help="folder for the manifests (default: compiled)")
    c = csub.add_parser("openlineage", help="RunEvents and JobEvents (JSON Lines), one process per job")
    c.add_argument("events", help="a .jsonl file of OpenLineage events")
    c.add_argument("--out", default="compiled", help="folder for the manifests (default: compiled)")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("plan", help="show what apply would change in each target")
    _add_plan_options(p)
    p.add_argument("--out", help="save the plan (JSON) for 'lac apply PLAN.json' ('-': stdout)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes, 0 when none")
    p.add_argument("--show-unmanaged", action="store_true", help="list lineage in targets that this tool did not create")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("apply", help="apply the manifests (or a saved plan) to the targets")
    _add_plan_options(p)
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation on a terminal")
    p.add_argument("--allow-mass-delete", action="store_true", help="allow deleting more than max_deletes")
    p.add_argument("--max-duration", type=_duration, metavar="DURATION",
                   help="stop cleanly at the first batch boundary after this long (90s, 50m, 2h); exit 4, "
                        "and the next apply resumes")
    p.add_argument("--retry-uncertain", action="store_true",
                   help="send again the writes state holds as uncertain (targets whose ambiguous-failure policy is hold)")
    p.set_defaults(func=_cmd_apply)

    p = sub.add_parser("show", help="render a saved plan (lac plan --out) without touching any target")
    p.add_argument("plan_file", metavar="PLAN.json")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--detail", action="store_true", help=DETAIL_HELP)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("state", help="inspect or edit the ownership ledger")
    ssub = p.add_subparsers(dest="state_command", required=True)
    ssub.add_parser("list", help="every managed address, per target")
    show = ssub.add_parser("show", help="the state document, or one managed address")
    show.add_argument("address", nargs="?")
    rebuild = ssub.add_parser("rebuild", help="rebuild a lost state from the ownership markers the targets hold")
    rebuild.add_argument("targets", nargs="*", help="targets to rebuild (default: all)")
    rebuild.add_argument("--lineage", help="this project's lineage id, when the markers name several projects")
    rebuild.add_argument("--force", action="store_true", help="merge into a state that already has entries")
    rm = ssub.add_parser("rm", help="forget addresses (the target keeps them, now unmanaged)")
    rm.add_argument("target_name")
    rm.add_argument("addresses", nargs="+")
    p.set_defaults(func=_cmd_state)

    p = sub.add_parser("pr-comment", help="post a Markdown plan as one sticky pull-request comment, set labels")
    p.add_argument("--repo", help="OWNER/NAME (default: $GITHUB_REPOSITORY)")
    p.add_argument("--pr", type=int, required=True, help="pull request number")
    p.add_argument("--file", required=True, help="the Markdown plan (lac plan --format markdown > plan.md)")
    p.add_argument("--labels-from", help="derive labels from this saved plan (default: the Markdown's summary)")
    p.add_argument("--labels", action=argparse.BooleanOptionalAction, default=True,
                   help="set lineage:no-changes / lineage:changes / lineage:deletes (default: on)")
    p.add_argument("--key", help="tell apart several plan comments on one PR (one per project)")
    p.add_argument("--details-url", help="where the full plan is when it must be cut (default: the workflow run)")
    p.add_argument("--token-env", default="GITHUB_TOKEN", help="environment variable holding the token")
    p.set_defaults(func=_cmd_pr_comment)

    p = sub.add_parser("graph", help="render the lineage of the manifests as Mermaid, Graphviz DOT or an HTML page")
    p.add_argument("paths", nargs="*", help="manifests (default: lac.yaml's)")
    p.add_argument("--format", choices=GRAPH_FORMATS, default="mermaid")
    p.add_argument("--around", help="only this asset's (or process's) neighbourhood")
    p.add_argument("--depth", type=int, default=1, help="with --around: hops upstream and downstream (default 1)")
    p.add_argument("--out", help="write to this file instead of stdout ('-': stdout)")
    p.set_defaults(func=_cmd_graph)

    p = sub.add_parser("import", help="write the lineage a target holds as manifests; --adopt records it in state")
    p.add_argument("target_name", metavar="TARGET", help="a target named in lac.yaml (default project: local)")
    p.add_argument("--out", default="imported", help="folder for the manifests (default: imported)")
    p.add_argument("--format", choices=("yaml", "csv"), default="yaml",
                   help="manifest format (default yaml); csv writes what CSV cannot carry as YAML beside")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--owned", action="store_true", help="only what carries this project's ownership marker")
    who.add_argument("--all", dest="owned", action="store_false", help="everything the filters select (default)")
    p.add_argument("--adopt", action="store_true", help="record what was imported in state: the next plan is empty")
    p.add_argument("--filter", action="append", metavar="KEY=GLOB", help="id=GLOB, asset=GLOB; atlan: connection=QN; alation: "
                   "external_id_prefix=[P], dataflow=EID[,...], table=KEY[,...] (repeatable)")
    p.add_argument("--force", action="store_true", help="overwrite files in --out that lac import did not write")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("force-unlock", help="remove a lock left by a run that died")
    p.add_argument("lock_id")
    p.set_defaults(func=_cmd_force_unlock)

    p = sub.add_parser("handle-event", help="plan and apply for an S3, Cloud Storage or Event Grid object event")
    p.add_argument("event_file", nargs="?", default="-", metavar="FILE", help="event JSON (default or '-': stdin)")
    p.set_defaults(func=_cmd_handle_event)
    _accept_global_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    pad_heap_growth()
    console = console or Console()
    try:
        args = build_parser().parse_args(argv)
        with console.showing_warnings(ManifestWarning):
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
    finally:
        gc.unfreeze()  # what ``bulk_allocation`` set aside is the collector's again (main may run in a longer process)


def run() -> NoReturn:
    """The ``lac`` command: ``main``, then the end of an interpreter's exit without its freeing of every object
    (the values ``_keep`` holds, and the modules'): the output is flushed and the exit handlers run first."""
    global _kept
    _kept = []
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a reader gone (``lac plan | head``) ends the output, not the exit
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    run()
