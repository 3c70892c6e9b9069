"""`outreach-ops`: describe topics and lag, replay a topic into a consumer group or reset its offsets as Kafka's
tools do, list/inspect/redrive DLQs, rebuild a projection into a fresh table, compare it with the live one and
swap the two.

Names given without the deployment prefix get `--prefix` (KAFKA_TOPIC_PREFIX) prepended. Every mutating
command prints its plan and asks before acting (unless --yes); a refusal exits with code 2.

A secured cluster: `--command-config FILE`, a client properties file as for Kafka's own tools
(security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location / ssl.ca.location as PEM, ...);
without it the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* variables apply (docs/KAFKA-SECURITY.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from aiokafka import TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from outreach_ops import dlq as dlq_ops
from outreach_ops.offsets import (
    ReplayPlan,
    ResetTo,
    apply_replay,
    consumer_lag,
    export_offsets,
    parse_timestamp,
    plan_replay,
    read_offsets_file,
)
from servicekit.messaging.dlq_depth import list_dlqs
from servicekit.messaging.kafka_admin import (
    OpsError,
    admin_client,
    beginning_offsets,
    describe_partitions,
    end_offsets,
    list_topics,
    offsets_consumer,
    prefixed,
    topic_configs,
)
from servicekit.messaging.kafka_config import (
    CommandConfigError,
    KafkaSecurity,
    KafkaStartupError,
    read_command_config,
    security_from_env,
)

if TYPE_CHECKING:
    from servicekit.messaging.rebuild_spec import RebuildSpec

T = TypeVar("T")
EXIT_REFUSED = 2

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
topics_app = typer.Typer(help="Topics of the event backbone.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter topics (<topic>.dlq).", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(dlq_app, name="dlq")

console = Console()


class Target:
    def __init__(self, bootstrap: str, prefix: str, security: KafkaSecurity) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.security = security


@app.callback()
def _root(
    ctx: typer.Context,
    bootstrap: Annotated[str, typer.Option("--bootstrap", "--bootstrap-server",
                                           help="Kafka bootstrap address (env KAFKA_BOOTSTRAP_SERVERS).")] = "",
    prefix: Annotated[str | None, typer.Option(help="Topic/group prefix (env KAFKA_TOPIC_PREFIX).")] = None,
    command_config: Annotated[Path | None, typer.Option(
        "--command-config", metavar="FILE",
        help="Client properties as for Kafka's tools (security.protocol, sasl.*, ssl.* as PEM); "
             "default: env KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*.")] = None,
) -> None:
    try:
        security = read_command_config(command_config) if command_config is not None else security_from_env()
    except ValueError as exc:  # CommandConfigError, or the env's settings failing validation
        console.print(f"[bold red]error:[/] Kafka security settings: {exc}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from exc
    ctx.obj = Target(bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
                     prefix if prefix is not None else os.environ.get("KAFKA_TOPIC_PREFIX", ""), security)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (OpsError, KafkaStartupError, CommandConfigError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from exc


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not typer.confirm(question, default=False):
        console.print("aborted: nothing was changed")
        raise typer.Exit(1)


# --- topics ---------------------------------------------------------------------------------------------------

@topics_app.command("describe")
def topics_describe(
    ctx: typer.Context,
    topic: Annotated[list[str] | None, typer.Argument(help="Topics (default: every topic under the prefix).")] = None,
    all_configs: Annotated[bool, typer.Option("--all-configs", help="Include broker defaults.")] = False,
) -> None:
    """Partitions, leaders, start/end offsets and topic configs."""
    target: Target = ctx.obj

    async def describe() -> None:
        async with (admin_client(target.bootstrap, target.security) as admin,
                    offsets_consumer(target.bootstrap, security=target.security) as consumer):
            names = [prefixed(t, target.prefix) for t in topic] if topic else [
                t for t in await list_topics(admin) if t.startswith(target.prefix)]
            for name in names:
                parts = await describe_partitions(admin, name)
                tps = [TopicPartition(name, p.partition) for p in parts]
                first, ends = await beginning_offsets(consumer, tps), await end_offsets(consumer, tps)
                table = Table(title=name, title_justify="left")
                for col in ("partition", "leader", "replicas", "isr", "start", "end", "records"):
                    table.add_column(col, justify="right")
                for p, tp in zip(parts, tps, strict=True):
                    table.add_row(str(p.partition), str(p.leader), ",".join(map(str, p.replicas)),
                                  ",".join(map(str, p.isr)), str(first[tp]), str(ends[tp]), str(ends[tp] - first[tp]))
                console.print(table)
                configs = await topic_configs(admin, name, include_defaults=all_configs)
                console.print("  configs: " + (", ".join(f"{k}={v}" for k, v in configs.items()) or "(defaults)"))

    _run(describe())


@app.command("lag")
def lag(
    ctx: typer.Context,
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Group(s); default: all under the prefix.")] = None,
) -> None:
    """Committed vs end offset per group and partition, and the total lag."""
    target: Target = ctx.obj
    groups = [prefixed(g, target.prefix) for g in group] if group else None
    rows = _run(consumer_lag(target.bootstrap, groups, prefix=target.prefix, security=target.security))
    table = Table(title="consumer lag", title_justify="left")
    for col, justify in (("group", "left"), ("topic", "left"), ("partition", "right"), ("committed", "right"),
                         ("end", "right"), ("lag", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r.group, r.topic, str(r.partition), str(r.committed), str(r.end), str(r.lag))
    console.print(table)
    console.print(f"total lag: {sum(r.lag for r in rows)} across {len({r.group for r in rows})} group(s)")


# --- replay ---------------------------------------------------------------------------------------------------

@app.command("replay")
def replay(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="Topic to replay, e.g. audits.audit-completed.v1")],
    group: Annotated[str, typer.Option("--group", "-g", help="Consumer group, e.g. writeback.on_audit_completed")],
    from_earliest: Annotated[bool, typer.Option("--from-earliest", help="Reset to the first retained record.")] = False,
    from_timestamp: Annotated[str | None, typer.Option("--from-timestamp", help="ISO-8601 time (naive = UTC).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Where to save the old offsets (JSON).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Reset GROUP's committed offsets on TOPIC to earliest or a timestamp (only while GROUP has no members)."""
    target: Target = ctx.obj
    if from_earliest == (from_timestamp is not None):
        console.print("[bold red]error:[/] give exactly one of --from-earliest or --from-timestamp")
        raise typer.Exit(EXIT_REFUSED)
    moment = None
    if from_timestamp is not None:
        try:
            moment = parse_timestamp(from_timestamp)
        except OpsError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(EXIT_REFUSED) from exc
    topic_name, group_name = prefixed(topic, target.prefix), prefixed(group, target.prefix)
    plan = _run(plan_replay(target.bootstrap, topic=topic_name, group=group_name, from_timestamp=moment,
                            security=target.security))
    table = Table(title=f"replay {plan.topic} for {plan.group} from {plan.start} (group {plan.group_state})",
                  title_justify="left")
    for col in ("partition", "committed now", "→ new", "end", "records replayed"):
        table.add_column(col, justify="right")
    for p in plan.partitions:
        table.add_row(str(p.partition), "-" if p.old is None else str(p.old), str(p.new), str(p.end), str(p.replayed))
    console.print(table)
    console.print(f"{plan.replayed} already-consumed record(s) will be delivered again to {plan.group}")
    if export is not None or not dry_run:
        path = export_offsets(plan, export or default_export_path(plan))
        console.print(f"old offsets saved to {path}")
    if dry_run:
        console.print("dry run: offsets unchanged")
        return
    _confirm(f"Reset {plan.group} on {plan.topic}?", yes)
    after = _run(apply_replay(plan))
    console.print("committed: " + ", ".join(f"p{p}={o}" for p, o in sorted(after.items())))


def default_export_path(plan: ReplayPlan) -> Path:
    """Under `OUTREACH_OPS_EXPORT_DIR`, else the temporary directory: never the working directory, which is
    read-only in the service pods."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(os.environ.get("OUTREACH_OPS_EXPORT_DIR") or Path(tempfile.gettempdir()) / "outreach-ops")
    return folder / f"offsets-{plan.group}-{plan.topic}-{stamp}.json"


@app.command("reset-offsets")
def reset_offsets(
    ctx: typer.Context,
    group: Annotated[str, typer.Option("--group", "-g", help="Consumer group, e.g. writeback.on_audit_completed")],
    topic: Annotated[str, typer.Option("--topic", help="The topic whose offsets move.")],
    to_earliest: Annotated[bool, typer.Option("--to-earliest", help="The first retained record.")] = False,
    to_latest: Annotated[bool, typer.Option("--to-latest", help="The end: skip everything not yet read.")] = False,
    to_datetime: Annotated[str | None, typer.Option(
        "--to-datetime", help="The first record at or after this ISO-8601 time (naive = UTC).")] = None,
    shift_by: Annotated[int | None, typer.Option("--shift-by", help="Move by N from the committed offset.")] = None,
    to_offset: Annotated[int | None, typer.Option("--to-offset", help="This offset on every partition.")] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="Offsets to restore: an export of this tool, or topic,partition,offset CSV lines.")] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Apply the plan (without it: a dry run).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan (the default).")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or csv")] = "table",
    export: Annotated[Path | None, typer.Option(
        "--export", help="Where to save the old offsets before applying (default: $OUTREACH_OPS_EXPORT_DIR or the "
                         "temporary directory).")] = None,
) -> None:
    """Kafka's `kafka-consumer-groups --reset-offsets` for one group and topic: plan with --dry-run (the default),
    apply with --execute (the old offsets are saved first). Refused while the group has live members."""
    target: Target = ctx.obj
    chosen = [flag for flag, given in (("--to-earliest", to_earliest), ("--to-latest", to_latest),
                                       ("--to-datetime", to_datetime is not None), ("--shift-by", shift_by is not None),
                                       ("--to-offset", to_offset is not None), ("--from-file", from_file is not None))
              if given]
    problem = None
    if len(chosen) != 1:
        problem = "give exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by, --to-offset, --from-file"
    elif execute and dry_run:
        problem = "give --dry-run or --execute, not both"
    elif output not in ("table", "json", "csv"):
        problem = f"--output must be table, json or csv, not {output!r}"
    if problem is not None:
        console.print(f"[bold red]error:[/] {problem}")
        raise typer.Exit(EXIT_REFUSED)
    topic_name, group_name = prefixed(topic, target.prefix), prefixed(group, target.prefix)
    try:
        if to_datetime is not None:
            to = ResetTo("datetime", moment=parse_timestamp(to_datetime))
        elif shift_by is not None:
            to = ResetTo("shift", amount=shift_by)
        elif to_offset is not None:
            to = ResetTo("offset", amount=to_offset)
        elif from_file is not None:
            to = ResetTo("file", offsets=read_offsets_file(from_file, topic_name))
        else:
            to = ResetTo("earliest" if to_earliest else "latest")
    except OpsError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_REFUSED) from exc
    plan = _run(plan_replay(target.bootstrap, topic=topic_name, group=group_name, to=to, security=target.security))
    after: dict[int, int] | None = None
    saved: Path | None = None
    if execute:
        saved = export_offsets(plan, export or default_export_path(plan))
        after = _run(apply_replay(plan))
    _print_reset(plan, output, after, saved)


def _print_reset(plan: ReplayPlan, output: str, after: dict[int, int] | None, saved: Path | None) -> None:
    rows = [{"group": plan.group, "topic": plan.topic, "partition": p.partition, "current_offset": p.old,
             "new_offset": p.new, "log_end_offset": p.end, "records_replayed": p.replayed,
             "lag_after": p.pending_after} for p in plan.partitions]
    if output == "json":
        typer.echo(json.dumps({"group": plan.group, "topic": plan.topic, "to": plan.start, "executed": after is not None,
                               "old_offsets_saved_to": str(saved) if saved else None, "partitions": rows}))
        return
    if output == "csv":
        # Kafka's own dry-run CSV: topic,partition,new offset (what --from-file reads back).
        for row in rows:
            typer.echo(f"{row['topic']},{row['partition']},{row['new_offset']}")
        return
    table = Table(title=f"reset {plan.group} on {plan.topic} to {plan.start} (group {plan.group_state})",
                  title_justify="left")
    for col in ("partition", "current offset", "new offset", "log end", "records replayed", "lag after"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*("-" if row[k] is None else str(row[k]) for k in (
            "partition", "current_offset", "new_offset", "log_end_offset", "records_replayed", "lag_after")))
    console.print(table)
    if after is None:
        console.print("dry run: offsets unchanged (--execute applies the plan)")
    else:
        console.print(f"old offsets saved to {saved}")
        console.print("committed: " + ", ".join(f"p{p}={o}" for p, o in sorted(after.items())))


# --- dlq ------------------------------------------------------------------------------------------------------

@dlq_app.command("list")
def dlq_list(ctx: typer.Context) -> None:
    """Every DLQ topic under the prefix with its depth, the records not yet redriven and the age of the oldest
    of them (retention deletes by that age)."""
    target: Target = ctx.obj
    rows = _run(list_dlqs(target.bootstrap, prefix=target.prefix, security=target.security,
                                  age_timeout_s=15.0))
    table = Table(title="dead-letter topics", title_justify="left")
    table.add_column("topic")
    table.add_column("depth", justify="right")
    table.add_column("not redriven", justify="right")
    table.add_column("oldest not redriven", justify="right")
    for r in rows:
        table.add_row(r.topic, str(r.depth), str(r.pending), _age(r.oldest_pending_age_s(), r.pending))
    console.print(table)


def _age(seconds: float | None, pending: int) -> str:
    """`3d 4h`, `5h 12m`, `7m 3s`; `-` when nothing is pending, `?` when the record could not be read."""
    if seconds is None:
        return "?"
    if pending == 0:
        return "-"
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {s % 60}s"


@dlq_app.command("inspect")
def dlq_inspect(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The DLQ topic, e.g. audits.audit-completed.v1.dlq")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
) -> None:
    """The oldest records of a DLQ with their origin and error."""
    target: Target = ctx.obj
    entries = _run(dlq_ops.inspect_dlq(target.bootstrap, prefixed(topic, target.prefix), limit=limit,
                                       security=target.security))
    table = Table(title=f"{prefixed(topic, target.prefix)} (first {limit})", title_justify="left")
    for col in ("offset", "origin", "error class", "error", "event_type", "event_id"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(str(e.offset), e.origin, e.error_class, e.error[:200], e.event_type, e.event_id)
    console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The DLQ topic, e.g. audits.audit-completed.v1.dlq")],
    only_error_class: Annotated[str | None, typer.Option("--only-error-class", help="Redrive only this error class.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be redriven; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Republish not-yet-redriven DLQ records to their origin topics (each record once, tracked in the
    consumer group ops.redrive.<dlq>)."""
    target: Target = ctx.obj
    name = prefixed(topic, target.prefix)
    preview = _run(dlq_ops.redrive(target.bootstrap, name, only_error_class=only_error_class, dry_run=True,
                                   security=target.security))
    _print_redrive(preview)
    if dry_run or not preview.redriven:
        console.print("dry run: nothing was republished" if dry_run else "nothing to redrive")
        return
    _confirm(f"Republish {len(preview.redriven)} record(s) from {name} to their origin topics?", yes)
    with Progress(TextColumn("redriving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("redrive", total=None)
        result = _run(dlq_ops.redrive(
            target.bootstrap, name, only_error_class=only_error_class, security=target.security,
            progress=lambda n: bar.advance(task, n), on_total=lambda total: bar.update(task, total=total)))
    _print_redrive(result)
    if result.stopped_early:
        console.print(f"[bold yellow]stopped early:[/] {result.stopped_early}")
        raise typer.Exit(EXIT_REFUSED)


def _print_redrive(result: dlq_ops.RedriveResult) -> None:
    verb = "would republish" if result.dry_run else "republished"
    by_origin: dict[str, int] = {}
    for e in result.redriven:
        by_origin[e.origin_topic or "?"] = by_origin.get(e.origin_topic or "?", 0) + 1
    console.print(f"{verb} {len(result.redriven)} record(s) " +
                  (f"({', '.join(f'{t}: {n}' for t, n in sorted(by_origin.items()))})" if by_origin else ""))
    if result.already_redriven:
        console.print(f"{result.already_redriven} record(s) already redriven earlier (skipped)")
    if result.skipped_filter:
        console.print(f"{len(result.skipped_filter)} record(s) left: other error class")
    if result.skipped_no_origin:
        console.print(f"{len(result.skipped_no_origin)} record(s) left: no existing origin topic "
                      f"(offsets {result.skipped_no_origin[:20]})")


# --- rebuild ---------------------------------------------------------------------------------------------------

def _load_spec(spec: str, table: str) -> RebuildSpec:
    from outreach_ops.rebuild import load_spec_factory

    try:
        return load_spec_factory(spec)(table)
    except OpsError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from exc


def _live_table(built: RebuildSpec, spec: str) -> str:
    if built.live_table is None:
        console.print(f"[bold red]error:[/] {spec} names no live table (RebuildSpec.live_table)", highlight=False)
        raise typer.Exit(EXIT_REFUSED)
    return built.live_table


def _dispose_after(built: RebuildSpec, coro: Coroutine[Any, Any, T]) -> T:
    async def go() -> T:
        try:
            return await coro
        finally:
            await built.engine.dispose()

    return _run(go())


@app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="The service's MODULE:FACTORY returning a RebuildSpec.")],
    table: Annotated[str, typer.Option("--table", help="The fresh table to build (must not be the live one).")],
    group: Annotated[str | None, typer.Option("--group", "-g", help="Fresh group to hand the end offsets to.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop TABLE first if it exists (never the live one).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Rebuild a projection into a fresh table by reading its topics from the beginning (no live group is touched).
    Then `rebuild-compare` and `rebuild-swap` with the same SPEC and --table."""
    from outreach_ops.rebuild import rebuild_projection
    from outreach_ops.switchover import check_target

    target: Target = ctx.obj
    built = _load_spec(spec, table)
    topics = [prefixed(t, target.prefix) for t in built.topics]
    group_name = prefixed(group, target.prefix) if group else None
    console.print(f"rebuild {table} from {', '.join(topics)}" + (" (one topic after the other)" if built.sequential
                                                                  else "")
                  + (f"; then commit end offsets for {group_name}" if group_name else ""))
    _confirm(f"Write into {table}?", yes)  # the engine has not connected yet: nothing to dispose

    async def go() -> None:
        if await check_target(built.engine, table, live=built.live_table, replace=replace):
            console.print(f"dropped the existing {table}")
        started = time.monotonic()
        with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("rebuild", total=None)
            result = await rebuild_projection(target.bootstrap, topics, built.handler, built.engine,
                                              prepare=built.prepare, flush=built.flush, sequential=built.sequential,
                                              group_id=group_name, progress=lambda n: bar.advance(task, n),
                                              security=target.security)
        console.print(f"applied {result.applied} record(s) into {table} in {time.monotonic() - started:.1f} s; "
                      f"{result.undecodable} undecodable skipped")

    _dispose_after(built, go())


@app.command("rebuild-compare")
def rebuild_compare(
    spec: Annotated[str, typer.Argument(help="The service's MODULE:FACTORY returning a RebuildSpec.")],
    table: Annotated[str, typer.Option("--table", help="The rebuilt table.")],
    samples: Annotated[int, typer.Option("--samples", min=0, help="How many differing keys to list.")] = 10,
) -> None:
    """Compare the rebuilt table with the live one row by row (by primary key) on every column the topics
    determine (the spec's `not_derived` columns are left out). Exit 0 when equal, 1 when they differ."""
    from outreach_ops.switchover import compare_tables

    built = _load_spec(spec, table)
    live = _live_table(built, spec)
    result = _dispose_after(built, compare_tables(built.engine, live, table, ignore=built.not_derived,
                                                  samples=samples))
    console.print(f"{live}: {result.live_rows} row(s); {table}: {result.fresh_rows} row(s); "
                  f"compared by {', '.join(result.key)} on {len(result.compared)} column(s)"
                  + (f", not on {', '.join(result.ignored)}" if result.ignored else ""), highlight=False)
    console.print(f"only in {live}: {result.only_live}; only in {table}: {result.only_fresh}; "
                  f"differing: {result.differing}", highlight=False)
    if result.by_column:
        console.print("differing per column: " + ", ".join(f"{c}={n}" for c, n in sorted(result.by_column.items())),
                      highlight=False)
    for key in result.samples:
        console.print(f"  {key}", highlight=False)
    if not result.equal:
        console.print("the tables differ")
        raise typer.Exit(1)
    console.print("equal")


@app.command("rebuild-swap")
def rebuild_swap(
    spec: Annotated[str, typer.Argument(help="The service's MODULE:FACTORY returning a RebuildSpec.")],
    table: Annotated[str, typer.Option("--table", help="The rebuilt table that becomes the live one.")],
    keep_as: Annotated[str | None, typer.Option(
        "--keep-as", help="New name of the current live table (default: <live>_old).")] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Swap in an empty table.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """In one transaction: copy the spec's `carry_over` columns from the live rows, rename the live table to
    <live>_old and TABLE to the live name (indexes likewise). Stop the service's consumers first."""
    from outreach_ops.switchover import swap_tables

    built = _load_spec(spec, table)
    live = _live_table(built, spec)
    old = keep_as or f"{live}_old"
    console.print(f"swap: {live} → {old}, {table} → {live}"
                  + (f"; copy {', '.join(built.carry_over)} from the {live} rows first" if built.carry_over else ""),
                  highlight=False)
    _confirm(f"Make {table} the live {live}?", yes)
    result = _dispose_after(built, swap_tables(built.engine, live, table, carry_over=built.carry_over,
                                               keep_as=keep_as, allow_empty=allow_empty))
    console.print(f"swapped: {live} is the rebuilt table ({result.rows} row(s); {result.carried_over} carried "
                  f"{', '.join(built.carry_over) or 'nothing'} over); the former one is {result.old}", highlight=False)
    if result.indexes:
        console.print("indexes: " + ", ".join(f"{a} → {b}" for a, b in result.indexes.items()), highlight=False)


def main() -> None:
    app()
