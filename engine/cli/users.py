"""`nurture users add|list|remove`: who may sign in to the web console, and with which role."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import JSON, config_of, console, err_console, print_json

users_app = typer.Typer(help="Console users: who may sign in at / and with which role.", no_args_is_help=True)

ROLE_HELP = "viewer (reads everything), sales (also accepts and rejects leads), admin (also cancels, retries and " \
            "test-sends mail)"


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _store(ctx: typer.Context):
    from engine.store import Store

    return Store.open(config_of(ctx).database_url)


@users_app.command("add")
def users_add(ctx: typer.Context, email: str = typer.Argument(..., help="The address they sign in with"),
              role: str = typer.Option(..., "--role", help=ROLE_HELP),
              password: str = typer.Option(None, "--password", envvar="NURTURE_USER_PASSWORD",
                                           help="The password (default: asked for, twice, without echo)"),
              json: bool = JSON) -> None:
    """Add a console user, or give an existing one a new role and password (which signs them out)."""
    from engine.console.passwords import check_new, hash_password
    from engine.core.addresses import InvalidAddress, normalise_address
    from engine.core.clock import SystemClock

    try:
        address = normalise_address(email)
    except InvalidAddress as err:
        err_console.print(f"[bold red]error:[/] {escape(email)} is not an email address: {escape(str(err))}")
        raise typer.Exit(2) from None
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_new(password, role)
    store = _store(ctx)
    try:
        with store.transaction() as tx:
            added = tx.users.save(address, role, hash_password(password), SystemClock().now())
    finally:
        store.dispose()
    if json:
        print_json({"email": address, "role": role, "added": added})
        return
    console.print(f"{'added' if added else 'updated'} {escape(address)} as {role}", highlight=False)


@users_app.command("list")
def users_list(ctx: typer.Context, json: bool = JSON) -> None:
    """Console users and their roles."""
    from engine.cli.app import reading

    with reading(config_of(ctx).database_url) as view:
        users = view.tx.users.all()
    if json:
        print_json([{"email": u.email, "role": u.role, "created_at": u.created_at.isoformat(),
                     "updated_at": u.updated_at.isoformat()} for u in users])
        return
    if not users:
        console.print("no console users yet: add one with `nurture users add EMAIL --role admin`")
        return
    table = Table("email", "role", "since")
    for u in users:
        table.add_row(escape(u.email), u.role, f"{u.created_at:%Y-%m-%d}")
    console.print(table)


@users_app.command("remove")
def users_remove(ctx: typer.Context, email: str = typer.Argument(..., help="The user's address"),
                 json: bool = JSON) -> None:
    """Remove a console user; their sessions end at their next request."""
    store = _store(ctx)
    try:
        with store.transaction() as tx:
            removed = tx.users.remove(email.strip().lower())
    finally:
        store.dispose()
    if json:
        print_json({"email": email, "removed": removed})
    elif removed:
        console.print(f"removed {escape(email)}", highlight=False)
    else:
        err_console.print(f"[bold red]error:[/] no console user {escape(email)}; see `nurture users list`")
        raise typer.Exit(1)
