"""The `mindlinks` command."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from mindlinks.config import Settings
from mindlinks.esign.evidence_cli import evidence_app

app = typer.Typer(
    help="Mind-Links: run, migrate, seed and operate the platform.", no_args_is_help=True
)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Local key material.", no_args_is_help=True)
ledger_app = typer.Typer(help="The verifiable ledger.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(evidence_app, name="evidence")


def _settings() -> Settings:
    return Settings()


@app.callback()
def _configure(ctx: typer.Context) -> None:
    """Every command logs JSON lines through the masking processor."""
    from mindlinks.platform.logging import configure_logging

    configure_logging(_settings().log_level)


@app.command()
def migrate() -> None:
    """Apply database migrations and publish the shipped contract templates and
    e-sign disclosure (a changed text becomes a new version)."""
    from mindlinks.db import make_engine
    from mindlinks.migrations.publish import upgrade_and_publish

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade_and_publish(engine)
    engine.dispose()
    typer.echo("migrations applied")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Migrate if needed and serve the app (with the worker inside in embedded mode)."""
    import os

    import uvicorn

    if not os.environ.get("MINDLINKS_PUBLIC_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        os.environ["MINDLINKS_PUBLIC_URL"] = f"http://{shown}:{port}"
    migrate()
    from mindlinks.app import create_app

    uvicorn.run(create_app(_settings()), host=host, port=port, log_config=None, proxy_headers=False)


@app.command()
def worker() -> None:
    """Run a job worker until interrupted (any number may run against PostgreSQL)."""
    from mindlinks.jobs.registry import load_task_modules
    from mindlinks.jobs.worker import Worker
    from mindlinks.platform.context import build_context
    from mindlinks.platform.logging import configure_logging
    from mindlinks.platform.runtime import freeze_startup_heap

    settings = _settings()
    configure_logging(settings.log_level)
    load_task_modules(tuple(m for m in settings_extra_task_modules() if m))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = Worker(build_context(settings))
    freeze_startup_heap()
    worker.run_forever(stop, settings.worker_poll_seconds)


def settings_extra_task_modules() -> list[str]:
    """Extra task modules to import (`MINDLINKS_WORKER_IMPORTS`, comma-separated)."""
    import os

    return [m.strip() for m in os.environ.get("MINDLINKS_WORKER_IMPORTS", "").split(",")]


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="Admin email")],
    password: Annotated[str, typer.Option(help="Admin password (NIST rules apply)")],
    full_name: Annotated[str, typer.Option(help="Display name")] = "Administrator",
) -> None:
    """Create a verified admin account."""
    from mindlinks.identity.service import create_user
    from mindlinks.platform.context import build_context
    from mindlinks.platform.errors import Problem

    ctx = build_context(_settings())
    try:
        with ctx.session_factory() as session, session.begin():
            user = create_user(
                session,
                email=email,
                password=password,
                full_name=full_name,
                role="admin",
                verified=True,
                allowed_roles=("admin",),
            )
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"admin created: {user.email} ({user.id})")


@keys_app.command("init")
def keys_init() -> None:
    """Create missing local keys (token signing key, development webhook secrets)."""
    from mindlinks.platform.keys import init_keys

    settings = _settings()
    created = init_keys(settings)
    typer.echo("created: " + ", ".join(created) if created else "all keys already exist")


@keys_app.command("rotate-blob-key")
def keys_rotate_blob_key() -> None:
    """Add a new current document encryption key; old documents keep opening.

    Running processes pick the new key up when they restart."""
    from mindlinks.platform.blobs.keyring import BlobKeyError, rotate_local_blob_key

    try:
        key_id = rotate_local_blob_key(_settings())
    except BlobKeyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"new current blob key: {key_id}")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Re-derive the whole ledger from the table; exit 0 if sound, 1 with the first bad seq."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mindlinks.ledger.checkpoints import trusted_vkeys
    from mindlinks.ledger.service import verify_ledger
    from mindlinks.platform.context import build_context

    ctx = build_context(_settings())
    with (
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar,
        ctx.session_factory() as session,
    ):
        task_id = bar.add_task("verifying entries", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        report = verify_ledger(session, progress=progress, trusted_keys=trusted_vkeys(ctx))
    if report.ok:
        typer.echo(f"ok: {report.entries_checked} entries checked")
        return
    typer.echo(
        f"FAILED at seq {report.first_bad_seq} after {report.entries_checked} entries checked: "
        f"{report.reason}"
    )
    raise typer.Exit(1)


@ledger_app.command("checkpoint")
def ledger_checkpoint() -> None:
    """Sign a checkpoint of the current tree now (if it grew) and print it."""
    from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for, latest_checkpoint
    from mindlinks.platform.context import build_context

    ctx = build_context(_settings())
    with ctx.session_factory() as session, session.begin():
        issued = issue_checkpoint(session, ctx.settings, keyring_for(ctx))
        shown = issued or latest_checkpoint(session)
    if shown is None:
        typer.echo("the ledger is empty: nothing to sign")
        return
    typer.echo(("issued" if issued else "unchanged since") + f" tree size {shown.tree_size}")
    typer.echo(shown.note, nl=False)


@ledger_app.command("prove")
def ledger_prove(
    seq: Annotated[int, typer.Argument(help="The entry's seq (0-based)", min=0)],
    tree_size: Annotated[
        int | None, typer.Option(help="A checkpointed tree size (default: the latest)")
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write here")] = None,
) -> None:
    """Export the entry's inclusion proof with its signed checkpoint (JSON)."""
    import json
    from pathlib import Path

    from mindlinks.ledger.checkpoints import checkpoint_at, require_latest_checkpoint
    from mindlinks.ledger.proofs import proof_bundle
    from mindlinks.platform.context import build_context
    from mindlinks.platform.errors import Problem

    ctx = build_context(_settings())
    try:
        with ctx.session_factory() as session, session.begin():
            checkpoint = (
                checkpoint_at(session, tree_size)
                if tree_size is not None
                else require_latest_checkpoint(session)
            )
            bundle = proof_bundle(session, seq, checkpoint)
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(bundle, indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        typer.echo(f"proof of seq {seq} in tree size {checkpoint.tree_size} written to {output}")
    else:
        typer.echo(text, nl=False)


@ledger_app.command("verify-proof")
def ledger_verify_proof(
    file: Annotated[str, typer.Argument(help="A proof bundle from `mindlinks ledger prove`")],
    key: Annotated[list[str] | None, typer.Option(help="A trusted vkey (repeatable)")] = None,
    keys_file: Annotated[
        list[str] | None, typer.Option(help="Trusted public-key JSON (repeatable)")
    ] = None,
    origin: Annotated[str | None, typer.Option(help="The origin the checkpoint must name")] = None,
) -> None:
    """Check a proof bundle offline: no database, only the keys you trust.

    Without --key or --keys-file, the public keys of this installation's own ledger
    key files (under the data dir) are trusted.
    """
    from mindlinks.ledger import verifier

    argv = [file]
    for vkey in key or []:
        argv += ["--key", vkey]
    for path in keys_file or []:
        argv += ["--keys-file", path]
    if not key and not keys_file:
        from mindlinks.ledger.keys import load_ledger_keys

        for vkey in load_ledger_keys(_settings()).vkeys:
            argv += ["--key", vkey]
    if origin:
        argv += ["--origin", origin]
    raise typer.Exit(verifier.main(argv))


@app.command()
def demo() -> None:
    """Seed the demo accounts and print their emails and passwords."""
    from mindlinks.demo import seed_demo
    from mindlinks.platform.context import build_context

    migrate()
    ctx = build_context(_settings())
    for line in seed_demo(ctx):
        typer.echo(line)


if __name__ == "__main__":  # pragma: no cover
    app()
