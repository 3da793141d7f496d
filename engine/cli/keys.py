"""`nurture keys add|list|revoke`: publishable keys for tracking from websites (/t.js, POST /v1/track)."""

from __future__ import annotations

from urllib.parse import urlsplit

import typer

from engine.cli.app import JSON, console, print_json, service
from engine.errors import EngineError


def register(root: typer.Typer) -> None:
    keys = typer.Typer(help="Publishable keys websites use to send page views and form submissions.",
                       no_args_is_help=True)
    root.add_typer(keys, name="keys")
    keys.command("add")(keys_add)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)


def _origin(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise EngineError(f"{text!r} is not an origin; give scheme and host (and port), e.g. https://www.example.com")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def keys_add(ctx: typer.Context,
             publishable: bool = typer.Option(False, "--publishable", help="a key for web pages (required)"),
             origin: list[str] = typer.Option([], "--origin", help="an origin pages are served from; repeat")) -> None:
    """Create a publishable key for the given origins and print it."""
    from engine.http.track import new_key

    if not publishable:
        raise EngineError("only publishable keys exist so far; add --publishable")
    if not origin:
        raise EngineError("a publishable key needs at least one --origin, e.g. --origin https://www.example.com")
    origins = sorted({_origin(o) for o in origin})
    nurture = service(ctx)
    key = new_key()
    with nurture.store.transaction() as tx:
        tx.visitors.add_key(key, origins, nurture.clock.now())
    print(key)


def keys_list(ctx: typer.Context, json: bool = JSON) -> None:
    """Every publishable key with its origins, and whether it is revoked."""
    nurture = service(ctx)
    with nurture.store.transaction() as tx:
        found = tx.visitors.all_keys()
    if json:
        print_json([{"key": k.key, "origins": k.origins, "created_at": k.created_at.isoformat(),
                     "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None} for k in found])
        return
    if not found:
        console.print("no keys; create one with nurture keys add --publishable --origin ORIGIN")
    for k in found:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        print(f"{k.key}  {state}  created {k.created_at:%Y-%m-%d %H:%M}  {' '.join(k.origins)}")


def keys_revoke(ctx: typer.Context, key: str = typer.Argument(..., help="the key, pk_...")) -> None:
    """Revoke a key: pages using it can send nothing more."""
    nurture = service(ctx)
    with nurture.store.transaction() as tx:
        if tx.visitors.key(key) is None:
            raise EngineError(f"no key {key!r}; see nurture keys list")
        changed = tx.visitors.revoke_key(key, nurture.clock.now())
    print(f"revoked {key}" if changed else f"{key} was revoked already")
