"""The ``ecowarn`` command (CONTRACT section 6)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ecowarn.alerts.notify import NotifyConfigError
from ecowarn.alerts.warnings import WarningConfigError
from ecowarn.config import packaged_file
from ecowarn.config.registry import Registry, RegistryError, load_registry
from ecowarn.config.settings import Settings, SettingsError, load_settings
from ecowarn.core.logs import setup_logging
from ecowarn.credit.errors import CreditConfigError
from ecowarn.detectors.catalog import RuleConfigError, load_rule_params
from ecowarn.embedded import EmbeddedUnavailable
from ecowarn.evaluation.command import add_evaluate_parser, cmd_evaluate
from ecowarn.service import ServiceStartError

__all__ = ["main"]

log = logging.getLogger("ecowarn")

SAMPLE_REGISTRY = packaged_file("registry.example.yaml")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _registry(settings: Settings, override: str | None, *, default_sample: bool) -> Registry:
    path = Path(override) if override else settings.registry
    if path is None:
        if not default_sample:
            raise CliError("no registry: set ECOWARN_REGISTRY to the registry YAML file "
                           "(see config/registry.example.yaml)")
        path = SAMPLE_REGISTRY
    return load_registry(path)


def _rule_params(settings: Settings) -> dict[str, object]:
    """Rule parameters from ECOWARN_RULES, or the contract defaults."""
    return load_rule_params(settings.rules)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")


# --- commands -------------------------------------------------------------------------


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ecowarn.service import open_service

    registry = _registry(settings, args.registry, default_sample=False)
    async with open_service(settings, registry, rule_params=_rule_params(settings)) as svc:
        log.info("ecowarn serving: HTTP on %s:%s, storage %s, registry %s (%d enterprises, "
                 "%d devices)", settings.http_host, svc.http_port, svc.storage_mode,
                 registry.source, len(registry.enterprises), len(registry.devices))
        await _wait_for_signal()
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ecowarn.demo import run_demo

    registry = _registry(settings, args.registry, default_sample=True)
    return await run_demo(settings, registry, rule_params=_rule_params(settings),
                          speed=args.speed, backlog_hours=args.backlog_hours)


async def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ecowarn.simulator import parse_injection, run_simulation

    registry = _registry(settings, args.registry, default_sample=True)
    url = args.mqtt_url or settings.mqtt_url
    if not url:
        raise CliError("no broker: pass --mqtt-url or set ECOWARN_MQTT_URL")
    start = (datetime.fromisoformat(args.start) if args.start
             else datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.minutes))
    if start.tzinfo is None:
        raise CliError("--start needs a UTC offset, e.g. 2026-11-23T00:00:00+08:00")
    try:
        injections = [parse_injection(spec, registry, start) for spec in args.inject]
    except ValueError as exc:
        raise CliError(f"--inject: {exc}") from exc
    speed = None if args.speed <= 0 else args.speed

    def progress(done: int, total: int) -> None:
        if done == total or done % 60 == 0:
            log.info("simulated %d/%d minutes", done, total)

    stats = await run_simulation(url, registry, start=start, minutes=args.minutes, speed=speed,
                                 seed=args.seed, injections=injections,
                                 topic_prefix=args.topic_prefix, batch=args.batch,
                                 progress=progress)
    log.info("published %s", stats)
    return 0


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ecowarn.embedded import resolve_database
    from ecowarn.store import migrate

    async with resolve_database(settings) as dsn:
        mode, applied = await migrate(dsn)
    print(f"storage mode: {mode}; migrations applied: "
          f"{', '.join(f'{v:04d}' for v in applied) if applied else 'none (up to date)'}")
    return 0


async def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from ecowarn.embedded import resolve_database
    from ecowarn.store import migrate
    from ecowarn.store.tokens import TokenError, create_token, revoke_token

    async with resolve_database(settings) as dsn:
        await migrate(dsn)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            if args.token_cmd == "create":
                if args.role == "enterprise" and not args.enterprise:
                    raise CliError("--role enterprise needs --enterprise ID")
                if args.enterprise and args.role != "enterprise":
                    raise CliError("--enterprise applies to --role enterprise only")
                if args.enterprise and settings.registry is not None:
                    reg = load_registry(settings.registry)
                    if args.enterprise not in reg.enterprises:
                        raise CliError(f"enterprise {args.enterprise!r} is not in {reg.source}")
                if args.region and args.role != "officer":
                    raise CliError("--region applies to --role officer only")
                expires = (datetime.now(UTC) + timedelta(days=args.expires_days)
                           if args.expires_days else None)
                try:
                    token = await create_token(conn, role=args.role, enterprise_id=args.enterprise,
                                               label=args.label, expires_at=expires,
                                               region=args.region)
                except TokenError as exc:
                    raise CliError(str(exc)) from exc
                print(token)
            elif args.token_cmd == "revoke":
                await revoke_token(conn, args.token_id)
                print(f"token {args.token_id} revoked")
    return 0


async def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the hash chain of the configured (or embedded) database; 1 when broken."""
    import psycopg

    from ecowarn.credit.verify import verify_chain
    from ecowarn.embedded import resolve_database
    from ecowarn.store import migrate

    async with resolve_database(settings) as dsn:
        await migrate(dsn)  # an empty or older database verifies as an empty chain
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            res = await verify_chain(conn)
    print(res.describe())
    return 0 if res.ok else 1


async def cmd_spool(args: argparse.Namespace, settings: Settings) -> int:
    """Inspect, replay or discard spools (the service's own and those set aside)."""
    import json

    from ecowarn.embedded import resolve_database
    from ecowarn.ingest import spool_admin
    from ecowarn.ingest.spool import SpoolError

    directory = Path(args.dir) if getattr(args, "dir", None) else settings.resolved_spool_dir()
    try:
        if args.spool_cmd == "inspect":
            found = spool_admin.inspect(directory)
            if args.json:
                print(json.dumps([s.as_json() for s in found], ensure_ascii=False, indent=1))
            elif not found:
                print(f"no spool at {directory}")
            for s in [] if args.json else found:
                db = s.database.describe() if s.database else "not recorded"
                span = (f"; readings from {s.first_reading.isoformat()} to"
                        f" {s.last_reading.isoformat()}" if s.first_reading and s.last_reading
                        else "")
                print(f"{s.path}: {s.batches} batches, {s.readings} readings of {s.devices}"
                      f" devices, {s.rejections} rejected inputs, {s.bytes} bytes{span};"
                      f" database: {db}")
            if args.readings:
                n = await asyncio.to_thread(spool_admin.export_readings,
                                            [s.path for s in found], Path(args.readings))
                print(f"{n} readings written to {args.readings}")
            return 0
        if args.spool_cmd == "replay":
            async with resolve_database(settings) as dsn:
                res = await spool_admin.replay(
                    directory, dsn, _registry(settings, args.registry, default_sample=True),
                    adopt=args.adopt,
                    progress=lambda done, total: log.info("replayed %d of %d batches", done, total))
            print(f"{res.batches} batches ({res.readings} readings) written to the database"
                  + ("; the directory was removed" if res.removed else ""))
            return 0
        summary = spool_admin.inspect(directory)[:1] if directory.is_dir() else []
        if not summary:
            raise CliError(f"no spool at {directory}")
        if not args.yes:
            print(f"{directory} holds {summary[0].batches} batches ({summary[0].readings}"
                  " readings); nothing discarded: add --yes to delete it (export first with"
                  " `ecowarn spool inspect --dir DIR --readings FILE`)")
            return 2
        gone = spool_admin.discard(directory)
        print(f"discarded {directory}: {gone.batches} batches ({gone.readings} readings)")
        return 0
    except SpoolError as exc:
        raise CliError(str(exc)) from exc


# --- parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecowarn",
        description="Monitoring-driven risk early warning for environmental regulators. "
                    "Settings come from ECOWARN_* environment variables (see README).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run ingest, detectors, HJ 212 gateway and HTTP API in one process",
                       description="Run everything in one process until SIGINT/SIGTERM. Without "
                                   "ECOWARN_DATABASE_URL an embedded PostgreSQL is started; without "
                                   "ECOWARN_MQTT_URL an embedded MQTT broker.")
    s.add_argument("--registry", help="registry YAML (default: ECOWARN_REGISTRY)")

    d = sub.add_parser("demo", help="embedded services + simulator + serve, with a web console",
                       description="Start embedded PostgreSQL and MQTT (unless configured), the "
                                   "service and a simulator replaying recent hours of the sample "
                                   "registry with injected violations, then print the console URL.")
    d.add_argument("--registry", help="registry YAML (default: the sample registry)")
    d.add_argument("--speed", type=float, default=120.0,
                   help="simulated minutes per real minute while catching up (default 120)")
    d.add_argument("--backlog-hours", type=float, default=3.0,
                   help="simulated history before now to replay first (default 3)")

    m = sub.add_parser("simulate", help="publish simulated telemetry to an MQTT broker",
                       description="Publish realistic minute data for every device of a registry.")
    m.add_argument("--registry", help="registry YAML (default: ECOWARN_REGISTRY or the sample)")
    m.add_argument("--mqtt-url", help="broker URL (default: ECOWARN_MQTT_URL)")
    m.add_argument("--start", help="first simulated minute, RFC 3339 with offset "
                                   "(default: MINUTES before now)")
    m.add_argument("--minutes", type=int, default=60, help="simulated minutes (default 60)")
    m.add_argument("--speed", type=float, default=0.0,
                   help="simulated minutes per real minute; 0 = as fast as possible (default)")
    m.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    m.add_argument("--inject", action="append", default=[], metavar="SPEC",
                   help="injected violation, e.g. treatment_off:PWR-KILN-1@02:00+25m (repeatable)")
    m.add_argument("--batch", type=int, default=1, help="readings per message (default 1)")
    m.add_argument("--topic-prefix", default="", help="prefix before telemetry/ (default none)")

    sub.add_parser("migrate", help="apply database migrations and exit",
                   description="Apply pending migrations under an advisory lock; a no-op when up "
                               "to date. Detects TimescaleDB and installs its layer when present.")

    t = sub.add_parser("token", help="manage API tokens", description="Create or revoke API tokens.")
    tsub = t.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="create a token and print it once",
                         description="Create a bearer token; it is printed once and stored hashed.")
    tc.add_argument("--role", required=True,
                    choices=["officer", "enterprise", "credit", "ingest", "admin"])
    tc.add_argument("--enterprise", help="enterprise id (unified social credit code) for --role enterprise")
    tc.add_argument("--region", help="officer tokens: limit to enterprises whose administrative "
                                     "division code starts with this prefix (e.g. 1301)")
    tc.add_argument("--label", default="", help="a note on who holds the token")
    tc.add_argument("--expires-days", type=int, default=0, help="days until expiry (default: never)")
    tr = tsub.add_parser("revoke", help="revoke a token by id", description="Revoke a token by its id.")
    tr.add_argument("token_id", type=int)
    sub.add_parser(
        "verify", help="check the hash chain of evidence packages and the credit ledger",
        description="Recompute the hash chain over evidence packages and credit ledger entries. "
                    "Exit status 0 when intact; 1 naming the first broken entry.")
    sp = sub.add_parser(
        "spool", help="inspect, replay or discard ingest spools",
        description="The spool keeps readings accepted while the database was away. A spool that "
                    "belongs to another database is set aside as DIR.foreign-TIME at start; these "
                    "commands inspect it, replay it into its own database (ECOWARN_DATABASE_URL), "
                    "or discard it. A spool in use by a running service is refused.")
    ssub = sp.add_subparsers(dest="spool_cmd", required=True, metavar="ACTION")
    si = ssub.add_parser("inspect", help="what the spool and those set aside beside it hold",
                         description="Counts, time ranges and the database of each spool.")
    si.add_argument("--dir", help="spool directory (default: the service's, "
                                  "ECOWARN_SPOOL_DIR or DATA_DIR/spool/CLIENT_ID)")
    si.add_argument("--json", action="store_true", help="print JSON")
    si.add_argument("--readings", metavar="FILE", help="also write every reading as JSON lines")
    sr = ssub.add_parser("replay", help="write a spool into its own database",
                         description="Write the spool's readings and dead letters into the "
                                     "configured database, only if the spool belongs to it.")
    sr.add_argument("dir", help="spool directory")
    sr.add_argument("--adopt", action="store_true",
                    help="the spool did not record its database: it belongs to this one")
    sr.add_argument("--registry", help="registry YAML (default: ECOWARN_REGISTRY or the sample)")
    sd = ssub.add_parser("discard", help="delete a spool",
                         description="Delete a spool directory; without --yes only say what it holds.")
    sd.add_argument("dir", help="spool directory")
    sd.add_argument("--yes", action="store_true", help="really delete it")
    add_evaluate_parser(sub)
    return p


_COMMANDS = {
    "serve": cmd_serve, "demo": cmd_demo, "simulate": cmd_simulate, "migrate": cmd_migrate,
    "token": cmd_token,
    "verify": cmd_verify,
    "spool": cmd_spool,
    "evaluate": cmd_evaluate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ecowarn: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        return asyncio.run(_COMMANDS[args.command](args, settings))
    except (RegistryError, RuleConfigError, CreditConfigError, WarningConfigError,
            NotifyConfigError) as exc:
        # A configuration file the service cannot start with: one line naming file and key.
        print(f"ecowarn: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"ecowarn: {exc}", file=sys.stderr)
        return 2
    except ServiceStartError as exc:
        print(f"ecowarn: {exc}", file=sys.stderr)
        return 2
    except EmbeddedUnavailable as exc:
        print(f"ecowarn: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
