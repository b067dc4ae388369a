"""`lead keys`: the master key ring: status, rotation, retirement, a new key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.entrypoints.cli.shared import (
    AsJson,
    OperatorOrg,
    bad_usage,
    cli_operator,
    container,
    print_json,
    refused,
)

if TYPE_CHECKING:
    from services.bootstrap import Container
    from services.keys import MasterKeyAdmin

app = typer.Typer(
    name="keys",
    help="Show the master key ring, rotate to a new master key (every data key rewrapped "
    "while the backend runs), retire an old one, or make a key for LEAD_MASTER_KEYS.",
    no_args_is_help=True,
)


def _admin(built: Container) -> MasterKeyAdmin:
    from services.keys import MasterKeyAdmin, Store

    store = built.keys
    if not isinstance(store, Store):
        raise refused("this site's key store cannot count or rewrap data keys")
    return MasterKeyAdmin(built.application, built.master_keys, store)


@app.command(epilog="Example:\n\n\b\n  lead keys status\n  lead keys status --json")
def status(as_json: AsJson = False) -> None:
    """The key ring's keys, which is current, how many data keys each wraps."""
    from infra.crypto.master_keys import FileKeyRing

    built = container()
    found = _admin(built).status()
    ring = built.master_keys
    where = (
        f"files in {built.master_key_dir}"
        + (f" and {built.master_key_path}" if built.master_key_path.exists() else "")
        if isinstance(ring, FileKeyRing)
        else "LEAD_MASTER_KEYS"
    )
    if as_json:
        wrapped: dict[str, Any] = {"null" if k is None else k: n for k, n in found.wrapped.items()}
        print_json(
            {
                "ring": where,
                "current": found.current,
                "ids": list(found.ids),
                "wrapped": wrapped,
                "missing": [k for k in found.wrapped if k is not None and k not in found.ids],
                "destroyed": found.destroyed,
                "retired": list(found.retired),
            }
        )
        return
    typer.echo(f"key ring: {where}")
    for key_id in found.ids:
        mark = "current" if key_id == found.current else "       "
        typer.echo(f"  {key_id:24} {mark}  wraps {found.wrapped.get(key_id, 0)} data keys")
    for held, n in sorted(found.wrapped.items(), key=lambda kv: str(kv[0])):
        if held is None:
            typer.echo(f"  {'(no id)':24}          wraps {n} data keys from before key ids")
        elif held not in found.ids:
            typer.echo(f"  {held:24} MISSING  wraps {n} data keys: not in this key ring")
    typer.echo(f"destroyed (people forgotten): {found.destroyed}")
    if found.retired:
        typer.echo(f"retired: {', '.join(found.retired)}")


@app.command(
    epilog="Example:\n\n\b\n  lead keys rotate\n  lead keys rotate --no-new-key --batch-size 1000"
)
def rotate(
    key_file: Annotated[
        Path | None,
        typer.Option(help="The new master key (32 bytes, base64) instead of a new one."),
    ] = None,
    no_new_key: Annotated[
        bool,
        typer.Option(
            "--no-new-key",
            help="Rewrap onto the current key only (LEAD_MASTER_KEYS, or finishing a "
            "rotation cut short).",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Keys per transaction.")] = 500,
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Bring in a new master key and rewrap every data key onto it, while the backend runs."""
    from infra.crypto.master_keys import FileKeyRing, decode_key, new_key
    from services.entrypoints.progress import Progress

    if key_file and no_new_key:
        raise bad_usage("--key-file and --no-new-key exclude each other")
    key: bytes | None = None
    if key_file:
        try:
            key = decode_key(key_file.read_text(), str(key_file))
        except OSError as exc:
            raise bad_usage(f"--key-file: {exc}") from None
    built = container()
    if key is None and not no_new_key and isinstance(built.master_keys, FileKeyRing):
        key = new_key()
    bar = Progress("rewrapping data keys")
    done = _admin(built).rotate(
        actor=cli_operator(operator_org),
        new_key=key,
        batch_size=batch_size,
        progress=lambda n, total: bar(n, total),
    )
    if not done.position:
        typer.echo(
            f"every data key is wrapped by the current master key {done.to_key_id}: nothing to do"
        )
        return
    old = ", ".join(done.from_key_ids) or "none"
    typer.echo(
        f"rotated to master key {done.to_key_id}: {done.rewrapped} data keys rewrapped "
        f"(from {old}); retire the old key with `lead keys retire ID`"
    )


@app.command(epilog="Example:\n\n\b\n  lead keys retire mk-2026-01")
def retire(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The master key's id.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "rotated out",
    operator_org: OperatorOrg = "LEAD",
) -> None:
    """Retire a master key no data key is wrapped by any more (refused while one is)."""
    from infra.crypto.master_keys import FileKeyRing

    built = container()
    _admin(built).retire(actor=cli_operator(operator_org), key_id=key_id, reason=reason)
    gone = "removed from" if isinstance(built.master_keys, FileKeyRing) else "now remove it from"
    typer.echo(f"retired master key {key_id}: recorded; {gone} the key ring")


@app.command(epilog="Example:\n\n\b\n  lead keys generate")
def generate() -> None:
    """Print a new master key for LEAD_MASTER_KEYS (id:base64); nothing is stored."""
    from infra.crypto.master_keys import encode_key, fingerprint, new_key

    made = new_key()
    typer.echo("a new master key (shown once; LEAD_MASTER_KEYS entry id:base64):", err=True)
    typer.echo(f"{fingerprint(made)}:{encode_key(made)}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
