"""The command line: a thin door onto load → lint → compile and the RFC 3263 resolver.

Human output is a rich table on a terminal and plain lines otherwise; ``--json`` gives one
documented shape per command for machines. Exit codes: 0 ok, 1 the thing checked failed
(errors, no reachable target), 2 the command line itself was wrong.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import sys
import time
from pathlib import Path

import click

from . import __version__
from .compile import compile_description, to_json as records_json, to_zone_text
from .estate import Estate, check, load_estate, load_files

ZONES_ENV = "ZONESYNC_ZONES"


def _console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _tty() -> bool:
    return sys.stdout.isatty()


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _zones_dir(ctx: click.Context) -> Path:
    return Path(ctx.obj["zones"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--zones", "zones", envvar=ZONES_ENV, default="zones", show_default=True,
              type=click.Path(file_okay=False), help=f"The descriptions directory (env {ZONES_ENV}).")
@click.option("--providers", "providers", envvar="ZONESYNC_PROVIDERS", default="providers",
              show_default=True, type=click.Path(file_okay=False),
              help="The provider files directory (env ZONESYNC_PROVIDERS).")
@click.option("--state", "state", envvar="ZONESYNC_STATE_DIR", default=None,
              type=click.Path(file_okay=False),
              help="The state directory (env ZONESYNC_STATE_DIR; default .zonesync beside zones/).")
@click.version_option(__version__, prog_name="zonesync")
@click.pass_context
def cli(ctx: click.Context, zones: str, providers: str, state: str | None) -> None:
    """zonesync: SIP domains as code (NAPTR/SRV records from zones/*.yaml)."""
    ctx.ensure_object(dict)
    ctx.obj["zones"] = zones
    ctx.obj["providers"] = providers
    ctx.obj["state"] = state


# --- validate -------------------------------------------------------------------------------

@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Check descriptions (schema + lint). PATHS: files or directories (default: the zones dir)."""
    estate = load_estate(paths or [_zones_dir(ctx)])
    if not estate.files:
        _fail(f"no description files (*.yaml) found in {', '.join(paths) or _zones_dir(ctx)}")
    errors = len(estate.errors)
    warnings = len(estate.findings) - errors
    failed = errors > 0 or (strict and warnings > 0)
    if as_json:
        _emit_json({
            "ok": not failed, "errors": errors, "warnings": warnings,
            "files": [{"file": f.file, "domain": f.description.domain if f.description else None,
                       "valid": f.description is not None and not any(x.is_error for x in f.findings),
                       "findings": [x.to_json() for x in f.findings]} for f in estate.files],
        })
    else:
        _print_findings(estate)
        verdict = "FAILED" if failed else "ok"
        click.echo(f"{len(estate.files)} file(s): {errors} error(s), {warnings} warning(s) — {verdict}")
    sys.exit(1 if failed else 0)


def _print_findings(estate: Estate) -> None:
    if not _tty():
        for finding in estate.findings:
            click.echo(finding.to_text())
        return
    console = _console()
    for finding in estate.findings:
        style = "bold red" if finding.is_error else "yellow"
        console.print(f"[bold]{_esc(finding.where())}[/]: [{style}]{finding.severity}[/] "
                      f"[dim]\\[{finding.rule}][/] {_esc(finding.message)}")
        if finding.record:
            console.print(f"    [dim]record:[/] {_esc(finding.record)}")
        if finding.fix:
            console.print(f"    [green]fix:[/] {_esc(finding.fix)}"
                          + (f" [dim]({_esc(finding.rfc)})[/]" if finding.rfc else ""))


def _esc(text: str) -> str:
    from rich.markup import escape
    return escape(text)


# --- compile --------------------------------------------------------------------------------

@cli.command("compile")
@click.argument("targets", nargs=-1, required=True, metavar="DOMAIN|FILE...")
@click.option("--format", "fmt", type=click.Choice(["zone", "json"]), default="zone",
              show_default=True, help="zone: RFC 1035 presentation; json: one object a record.")
@click.pass_context
def compile_cmd(ctx: click.Context, targets: tuple[str, ...], fmt: str) -> None:
    """Print the records a description compiles to (NAPTR, SRV, A/AAAA)."""
    estate = _estate_for(ctx, targets)
    chosen = [_pick(estate, t) for t in targets]
    zones = dict.fromkeys(loaded.description.zone_name for loaded in chosen)
    errors = [f for zone in zones for f in estate.zone_errors(zone)]
    if errors:
        for finding in errors:
            click.echo(finding.to_text(), err=True)
        _fail(f"{len(errors)} error(s): nothing compiled", code=1)
    records = frozenset().union(*(compile_description(l.description) for l in chosen))
    if fmt == "json":
        _emit_json(records_json(records))
    else:
        click.echo(to_zone_text(records), nl=False)


def _estate_for(ctx: click.Context, targets: tuple[str, ...]) -> Estate:
    """The zones dir, plus any named files outside it, linted together (once)."""
    zones = _zones_dir(ctx)
    outside = [Path(t) for t in targets if Path(t).is_file()
               and zones.resolve() not in Path(t).resolve().parents]
    return check(load_files(([zones] if zones.is_dir() else []) + outside))


def _pick(estate: Estate, target: str):
    loaded = estate.find(target)
    if loaded is None:
        _fail(f"no description for {target!r}: give a domain described in "
              f"{', '.join(sorted(d.domain for d in estate.descriptions())) or 'zones/'} "
              "or the path of a description file")
    if loaded.description is None:
        for finding in loaded.findings:
            click.echo(finding.to_text(), err=True)
        _fail(f"{loaded.file} does not load", code=1)
    return loaded


# --- resolve --------------------------------------------------------------------------------

@cli.command("resolve")
@click.argument("uri")
@click.option("--nameserver", "-n", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Ask this server (repeatable). Default: the system resolver.")
@click.option("--from-zones", is_flag=True,
              help="Resolve against the records zones/ compiles to, not live DNS.")
@click.option("--profile", type=click.Choice(["rfc3263", "srv-only", "sofia"]), default="rfc3263",
              show_default=True, help="Which client to emulate.")
@click.option("--random", "use_random", is_flag=True,
              help="RFC 2782 weighted random order within a priority (default: deterministic).")
@click.option("--seed", type=int, default=None, help="Seed for --random (repeatable runs).")
@click.option("--timeout", type=float, default=2.0, show_default=True, help="Seconds per query.")
@click.option("--trace", is_flag=True, help="Show each query and decision.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def resolve_cmd(ctx, uri, nameservers, from_zones, profile, use_random, seed, timeout, trace,
                as_json) -> None:
    """Resolve a SIP/SIPS URI as an RFC 3263 client would: the targets a caller reaches."""
    from .dnssource import LiveSource, MemorySource
    from .resolve import UriError, resolve

    if from_zones and nameservers:
        _fail("--from-zones and --nameserver exclude each other")
    if from_zones:
        estate = load_estate([_zones_dir(ctx)])
        source = MemorySource([r for recs in estate.zone_records().values() for r in recs])
    else:
        try:
            source = LiveSource(list(nameservers) or None, timeout=timeout)
        except ValueError as exc:
            _fail(str(exc))
    rng = random.Random(seed) if use_random or seed is not None else None
    try:
        result = resolve(uri, source, profile=profile, rng=rng)
    except UriError as exc:
        _fail(f"{uri!r} is not a SIP URI: {exc}")
    if as_json:
        _emit_json(result.to_json())
    else:
        _print_resolution(result, trace)
    sys.exit(0 if result.targets and not result.error else 1)


def _print_resolution(result, trace: bool) -> None:
    if trace:
        for step in result.steps:
            click.echo(f"  . {step}")
    if result.targets:
        if _tty():
            from rich.table import Table
            table = Table(title=f"{result.uri}: what a caller reaches, in order")
            for col in ("#", "transport", "host", "port", "address"):
                table.add_column(col)
            for i, t in enumerate(result.targets, 1):
                table.add_row(str(i), t.transport, t.host, str(t.port), t.address or "-")
            _console().print(table)
        else:
            for t in result.targets:
                click.echo(f"{t.transport} {t.host} {t.port} {t.address or '-'}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=not _tty())
    if result.error:
        click.echo(f"error: {result.error}", err=True)


# --- sync: plan, apply, verify ----------------------------------------------------------------

def _workspace(ctx: click.Context):
    """The sync commands' workspace; provider-file or owner problems end the command."""
    from .sync import Workspace

    workspace = Workspace(_zones_dir(ctx), Path(ctx.obj["providers"]), ctx.obj["state"])
    if workspace.problems:
        for problem in workspace.problems:
            click.echo(problem, err=True)
        _fail("provider files or settings have errors: nothing was planned", code=1)
    return workspace


def _select(workspace, domains, provider=None):
    selection = workspace.select(domains, provider)
    for error in selection.errors:
        click.echo(f"zonesync: {error}", err=True)
    if selection.errors:
        sys.exit(1)
    for finding in workspace.estate.errors:
        click.echo(finding.to_text(), err=True)
    return selection


def _progress(label: str, items):
    """Where each finished item is reported: a rich progress bar on a terminal (started at the
    first report, so that worker processes are forked before its thread exists), a log line an
    item otherwise."""
    items = list(items)
    total, done = len(items), [0]
    if total < 2:
        return lambda item: None
    bar: list = []

    def report(item) -> None:
        done[0] += 1
        if not _tty():
            click.echo(f"{label} {done[0]}/{total}: {item.zone} on {item.provider.name}", err=True)
            return
        if not bar:
            from rich.progress import Progress
            bar.append(Progress(console=_console(stderr=True), transient=False))
            bar[0].start()
            bar.append(bar[0].add_task(label, total=total))
        bar[0].advance(bar[1])
        if done[0] == total:
            bar[0].stop()

    return report


@cli.command("plan")
@click.argument("domains", nargs=-1, metavar="[DOMAIN...]")
@click.option("--provider", "provider", default=None, help="Only this provider.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="markdown: for a pull-request comment.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Save the plan (JSON, with checksums) for `apply --plan`.")
@click.option("--adopt", is_flag=True, help="Plan taking over unmarked existing records.")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@click.pass_context
def plan_cmd(ctx, domains, provider, fmt, out, adopt, exit_code) -> None:
    """Show what apply would change: per zone and provider, with old and new values."""
    from .report import plan_markdown, plan_text
    from .sync import plan_all

    world = _workspace(ctx)
    selection = _select(world, domains, provider)
    plan = plan_all(selection, world.owner, adopt, progress=_progress)
    if out:
        from .state import write_atomic
        write_atomic(Path(out), json.dumps(plan.to_json(), indent=1) + "\n")
    if fmt == "json":
        _emit_json(plan.to_json())
    elif fmt == "markdown":
        click.echo(plan_markdown(plan), nl=False)
    else:
        click.echo(plan_text(plan), nl=False)
    failed = bool(plan.errors) or (world.broken and selection.everything)
    if exit_code:
        sys.exit(1 if failed else 2 if plan.has_changes else 0)
    sys.exit(1 if failed else 0)


def _apply_and_verify(workspace, selection, *, adopt, force, checksums, no_verify, wait,
                      fmt, domains=()) -> None:
    from .report import apply_text
    from .sync import run

    started = time.time()
    result = run(workspace, selection, adopt=adopt, force=force, checksums=checksums,
                 verify=not no_verify, wait=wait, progress=_progress)
    _audit(workspace, selection, domains, result, started)
    if fmt == "json":
        _emit_json(result.to_json())
    else:
        click.echo(apply_text(result.applied), nl=False)
        for v in result.verified:
            _print_verification(v)
    sys.exit(0 if result.ok else 1)


def _audit(workspace, selection, domains, result, started: float) -> None:
    """Record the run in the job store, as the service does; a store problem only warns."""
    from .jobs import record_cli_run

    try:
        record_cli_run(workspace, selection, domains, result, started, time.time(),
                       f"cli:{getpass.getuser()}")
    except Exception as exc:  # noqa: BLE001 - the run happened; the audit record is secondary
        click.echo(f"zonesync: warning: the run was not recorded in the job store: {exc}", err=True)


def _print_verification(v) -> None:
    head = f"verify {v.target.zone} on {v.target.provider.name}: "
    for note in v.notes:
        click.echo(f"  note: {note}")
    if v.error:
        click.echo(head + f"ERROR — {v.error}")
        return
    click.echo(head + ("ok" if v.ok else "FAILED"))
    click.echo("\n".join("  " + line for line in v.result.to_text().splitlines()))


def _apply_options(command):
    """The options `apply` and `sync` share."""
    for option in reversed([
        click.option("--force", is_flag=True, help="Allow changes over octoDNS's safety thresholds."),
        click.option("--adopt", is_flag=True, help="Take over unmarked existing records zonesync wants."),
        click.option("--no-verify", "no_verify", is_flag=True, help="Skip the verification after apply."),
        click.option("--wait", type=float, default=None, help="Propagation budget for verify (seconds)."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True),
    ]):
        command = option(command)
    return command


@cli.command("apply")
@click.argument("domains", nargs=-1, metavar="[DOMAIN...]")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Apply exactly this reviewed plan (refused if DNS or zones/ changed since).")
@click.option("--provider", "provider", default=None, help="Only this provider.")
@_apply_options
@click.pass_context
def apply_cmd(ctx, domains, plan_file, provider, force, adopt, no_verify, wait, fmt) -> None:
    """Apply the changes (only to records zonesync owns), then verify."""
    world = _workspace(ctx)
    selection = _select(world, domains, provider)
    checksums = None
    if plan_file:
        checksums, planned_adopt = _saved_plan(plan_file)
        adopt = adopt or planned_adopt          # the reviewed plan's decisions, not new ones
        wanted = set(checksums)
        selection.targets = [t for t in selection.targets if (t.zone + ".", t.provider.name) in wanted]
    _apply_and_verify(world, selection, adopt=adopt, force=force, checksums=checksums,
                      no_verify=no_verify, wait=wait, fmt=fmt, domains=domains)


def _saved_plan(path: str) -> tuple[dict[tuple[str, str], str], bool]:
    """A saved plan's checksums per (zone, provider), and whether it was made with --adopt."""
    try:
        data = json.loads(Path(path).read_text())
        return ({(z["zone"], z["provider"]): z["checksum"] for z in data["zones"]},
                bool(data.get("adopt", False)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _fail(f"{path} is not a zonesync plan ({type(exc).__name__}: {exc}); make one with "
              "`zonesync plan --out FILE`", code=1)


@cli.command("sync")
@_apply_options
@click.pass_context
def sync_cmd(ctx, force, adopt, no_verify, wait, fmt) -> None:
    """The main job: plan, apply and verify every zone on every provider."""
    world = _workspace(ctx)
    selection = _select(world, ())
    _apply_and_verify(world, selection, adopt=adopt, force=force, checksums=None,
                      no_verify=no_verify, wait=wait, fmt=fmt)


@cli.command("verify")
@click.argument("domains", nargs=-1, metavar="[DOMAIN...]")
@click.option("--provider", "provider", default=None, help="Only this provider.")
@click.option("--wait", type=float, default=None, help="Propagation budget (seconds).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def verify_cmd(ctx, domains, provider, wait, fmt) -> None:
    """Check live DNS on every authoritative server against zones/, and what callers reach."""
    from .sync import verify_all

    world = _workspace(ctx)
    selection = _select(world, domains, provider)
    results = verify_all(selection.targets, wait=wait, progress=_progress)
    if fmt == "json":
        _emit_json({"ok": all(v.ok for v in results), "zones": [v.to_json() for v in results]})
    else:
        for v in results:
            _print_verification(v)
    sys.exit(0 if results and all(v.ok for v in results) and not (world.broken and selection.everything) else 1)


@cli.command("drift")
@click.argument("domains", nargs=-1, metavar="[DOMAIN...]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def drift_cmd(ctx, domains, as_json) -> None:
    """Compare live DNS with zones/ on every provider and server; change nothing.

    Exit 0 clean (or only pending propagation), 2 drift, 1 error: for cron and CI."""
    from .drift import check_drift, overall
    from .sync import Workspace

    world = Workspace(_zones_dir(ctx), Path(ctx.obj["providers"]), ctx.obj["state"])
    reports = check_drift(world, domains, progress=_progress)
    state = overall(reports) if reports else "error"
    if as_json:
        _emit_json({"ok": state in ("clean", "pending"), "state": state,
                    "drifted": sum(r.drifted for r in reports),
                    "reports": [r.to_json() for r in reports]})
    else:
        for report in reports:
            _print_drift(report)
    if not reports:
        click.echo(f"zonesync: nothing to check: no descriptions in {_zones_dir(ctx)} and no "
                   "zones zonesync manages", err=True)
    sys.exit({"clean": 0, "pending": 0, "drift": 2}.get(state, 1))


def _print_drift(report) -> None:
    where = f"{report.domain or '-'} on {report.provider or '-'}"
    if report.zone and report.zone.rstrip(".") != report.domain:
        where += f" (zone {report.zone})"
    if report.state == "error":
        head = f"ERROR — {report.error}"
        if report.drifted:
            head += f" (and {report.drifted} drifted RRset{'s' if report.drifted != 1 else ''})"
    elif report.state == "drift":
        head = f"DRIFT — {report.drifted} RRset{'s' if report.drifted != 1 else ''}"
    else:
        head = report.state
    click.echo(f"{where}: {head}")
    for c in report.checks:
        seen = f"@ {c['server']}" if c["server"] else f"(provider {report.provider})"
        marker = " (ownership marker)" if c.get("marker") else ""
        click.echo(f"  {c['state']:<13} {c['name']} {c['type']}{marker}  {seen}")
        click.echo(f"      expected: {_rrset_line(c['expected'], c['expected_ttl'])}")
        click.echo(f"      live:     {_rrset_line(c['live'], c['live_ttl'])}")
        if c.get("detail"):
            click.echo(f"      {c['detail']}")


def _rrset_line(rdatas, ttl) -> str:
    if not rdatas:
        return "(none)"
    return f"TTL {ttl if ttl is not None else '?'}  " + " | ".join(rdatas)


@cli.command("dns-serve")
@click.option("--listen", default="127.0.0.1:5353", show_default=True, metavar="HOST:PORT",
              help="Address and port (UDP and TCP).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Zone files to serve (default: the embedded provider's, STATE/zones).")
@click.pass_context
def dns_serve_cmd(ctx, listen, directory) -> None:
    """Answer authoritatively for the embedded provider's zone files (reloads on change)."""
    from .dnssource import parse_nameserver
    from .dnsserve import serve_forever
    from .state import state_dir

    try:
        host, port = parse_nameserver(listen)
    except ValueError as exc:
        _fail(str(exc))
    folder = Path(directory) if directory else state_dir(_zones_dir(ctx), ctx.obj["state"]) / "zones"
    click.echo(f"zonesync dns-serve: answering for {folder}/*.zone on {listen} (UDP and TCP); "
               "Ctrl-C stops", err=True)
    try:
        serve_forever(folder, host, port, lambda msg: click.echo(msg, err=True))
    except OSError as exc:
        _fail(f"cannot listen on {listen}: {exc.strerror or exc}", code=1)

# --- serve ----------------------------------------------------------------------------------

def _service_env(ctx: click.Context) -> dict[str, str]:
    """The service's settings for `serve` and `runner`: the environment's ZONESYNC_*, with
    --zones, --providers and --state given to zonesync on top; zonesync's log lines on."""
    import logging

    env = {k: v for k, v in os.environ.items() if k.startswith("ZONESYNC_")}
    env.update({"ZONESYNC_ZONES": ctx.obj["zones"], "ZONESYNC_PROVIDERS": ctx.obj["providers"]})
    if ctx.obj["state"]:
        env["ZONESYNC_STATE_DIR"] = ctx.obj["state"]
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("zonesync").setLevel(logging.INFO)
    return env


@cli.command("serve")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="Address and port of the HTTP API.")
@click.pass_context
def serve_cmd(ctx, listen) -> None:
    """Run the HTTP API with Flask's development server (for trying it out, not production).

    \b
    In production run the same app under gunicorn:
      gunicorn -w 4 -b 0.0.0.0:8080 'zonesync.api:create_app()'
    (no --preload). Settings come from the environment: ZONESYNC_ZONES, ZONESYNC_PROVIDERS,
    ZONESYNC_STATE_DIR, ZONESYNC_TOKENS (name:scope1,scope2:token;...) or
    ZONESYNC_TOKENS_FILE, ZONESYNC_WEBHOOK_SECRET, ZONESYNC_GIT_PUSH, ZONESYNC_DRIFT_INTERVAL,
    ZONESYNC_DRIFT_REMEDIATE, ZONESYNC_MAX_QUEUE, ZONESYNC_MAX_BODY. --zones, --providers and
    --state given to zonesync override the first three."""
    from .api import create_app
    from .api.config import ConfigError
    from .dnssource import parse_nameserver

    try:
        host, port = parse_nameserver(listen)
    except ValueError as exc:
        _fail(str(exc))
    env = _service_env(ctx)
    try:
        app = create_app(env)
    except ConfigError as exc:
        _fail(f"configuration: {exc}")
    click.echo(f"zonesync serve: the HTTP API on http://{listen} with Flask's DEVELOPMENT server; "
               "in production use gunicorn 'zonesync.api:create_app()'. Ctrl-C stops", err=True)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)
    except OSError as exc:
        _fail(f"cannot listen on {listen}: {exc.strerror or exc}", code=1)


@cli.command("runner")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=5, show_default=True,
              help="Run the jobs at this lower CPU priority, so that the API stays quick.")
@click.pass_context
def runner_cmd(ctx, niceness) -> None:
    """Run the service's jobs (syncs, drift checks) in this process, for an API whose workers
    only queue them (ZONESYNC_START_RUNNER=false).

    \b
    Jobs are CPU work (octoDNS, verify); in the API's own workers they compete with requests
    for the GIL. Split, the API answers in milliseconds while jobs run:
      ZONESYNC_START_RUNNER=false gunicorn -w 2 'zonesync.api:create_app()' &
      zonesync runner
    Same settings (environment) as the API. One runner holds the runner lock; a second one
    waits and takes over when the first ends. SIGTERM or Ctrl-C stops it (a running job is
    finished first)."""
    import signal
    import threading

    from .api.config import ConfigError, Settings
    from .api.service import Service

    env = _service_env(ctx) | {"ZONESYNC_START_RUNNER": "true"}
    try:
        service = Service(Settings.from_env(env))
    except ConfigError as exc:
        _fail(f"configuration: {exc}")
    if niceness:
        os.nice(niceness)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    leader = service.start()
    click.echo(f"zonesync runner: jobs of {service.store.path} "
               f"{'run here' if leader else 'run by another runner; waiting to take over'}",
               err=True)
    stop.wait()
    service.stop()


# --- rules ----------------------------------------------------------------------------------

@cli.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rules_cmd(as_json: bool) -> None:
    """List every finding zonesync reports: id, severity, source, fix."""
    from .findings import RULES
    if as_json:
        _emit_json([{"id": r.id, "severity": r.severity, "rfc": r.rfc or None, "title": r.title,
                     "fix": r.fix} for r in RULES.values()])
        return
    for rule in RULES.values():
        click.echo(f"{rule.id:32} {rule.severity:8} {rule.title}" + (f" ({rule.rfc})" if rule.rfc else ""))


# --- plumbing -------------------------------------------------------------------------------

def _fail(message: str, code: int = 2):
    click.echo(f"zonesync: {message}", err=True)
    sys.exit(code)


def main() -> None:
    """Entry point: user errors are messages, never tracebacks (ZONESYNC_DEBUG=1 shows them)."""
    try:
        cli.main(standalone_mode=False, prog_name="zonesync")
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("ZONESYNC_DEBUG"):
            raise
        click.echo(f"zonesync: internal error: {type(exc).__name__}: {exc} "
                   "(set ZONESYNC_DEBUG=1 for the traceback, and please report it)", err=True)
        sys.exit(1)
