"""The command line: a thin door onto load → lint → compile and the RFC 3263 resolver.

Human output is a rich table on a terminal and plain lines otherwise; ``--json`` gives one
documented shape per command for machines. Exit codes: 0 ok, 1 the thing checked failed
(errors, no reachable target), 2 the command line itself was wrong.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import click

from . import __version__
from .compile import compile_description, to_json as records_json, to_zone_text
from .estate import Estate, check, load_estate, load_files
from .findings import Finding

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
@click.version_option(__version__, prog_name="zonesync")
@click.pass_context
def cli(ctx: click.Context, zones: str) -> None:
    """zonesync: SIP domains as code (NAPTR/SRV records from zones/*.yaml)."""
    ctx.ensure_object(dict)
    ctx.obj["zones"] = zones


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
