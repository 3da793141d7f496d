"""`nurture outbox show|cancel|retry`: one message in full, and the two actions an operator takes on one.

`outbox list` (in run.py) lists them.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from engine.cli.app import JSON, config_of, console, err_console, print_json, reading

MESSAGE = typer.Argument(..., help="The message's number, as `nurture outbox list` shows it")


def register(outbox: typer.Typer) -> None:
    outbox.command("show")(outbox_show)
    outbox.command("cancel")(outbox_cancel)
    outbox.command("retry")(outbox_retry)


def _row_json(row) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row._asdict().items()}


def outbox_show(ctx: typer.Context, message_id: int = MESSAGE, json: bool = JSON) -> None:
    """One message: its state (queued, deferred, retrying, failed, cancelled, suppressed, sent), when it is due,
    its tries and the server's last reply."""
    with reading(config_of(ctx).database_url) as view:
        row = view.tx.mailroom.get(message_id)
    if row is None:
        err_console.print(f"[bold red]error:[/] no message {message_id} in the outbox; see `nurture outbox list`")
        raise typer.Exit(1)
    if json:
        print_json(_row_json(row))
        return
    for name, value in row._asdict().items():
        console.print(f"{name:>12}  {escape(str(value if value is not None else '-'))}", highlight=False)


def _write(ctx: typer.Context):
    from engine.store.existing import open_existing

    return open_existing(config_of(ctx).database_url)


def outbox_cancel(ctx: typer.Context, message_id: int = MESSAGE,
                  reason: str = typer.Option("cancelled by an operator", "--reason", help="Kept as its last reply"),
                  json: bool = JSON) -> None:
    """Cancel a queued message (deferred or retrying too) so it is never sent; one a daemon is sending right
    now cannot be."""
    from engine.core.clock import SystemClock

    store = _write(ctx)
    try:
        with store.transaction() as tx:
            row = tx.mailroom.get(message_id)
            done = row is not None and tx.mailroom.cancel(message_id, reason, SystemClock().now())
    finally:
        store.dispose()
    _answer(message_id, "cancel", row, done, json,
            "only a queued message (deferred or retrying too) that no daemon is sending right now can be cancelled")


def outbox_retry(ctx: typer.Context, message_id: int = MESSAGE, json: bool = JSON) -> None:
    """Queue a failed or cancelled message again, due now; consent is checked again when it goes. A sent
    message is never retried, so nobody gets it twice."""
    from engine.core.clock import SystemClock

    store = _write(ctx)
    try:
        with store.transaction() as tx:
            row = tx.mailroom.get(message_id)
            done = row is not None and tx.mailroom.retry(message_id, SystemClock().now())
    finally:
        store.dispose()
    _answer(message_id, "retry", row, done, json, "only a failed or cancelled message can be retried")


def _answer(message_id: int, action: str, row, done: bool, json: bool, rule: str) -> None:
    if json:
        print_json({"id": message_id, "action": action, "done": done,
                     "state_before": None if row is None else row.state})
    if row is None:
        err_console.print(f"[bold red]error:[/] no message {message_id} in the outbox; see `nurture outbox list`")
        raise typer.Exit(1)
    if not done:
        err_console.print(f"[bold red]error:[/] message {message_id} is {row.state}: {rule}")
        raise typer.Exit(1)
    if not json:
        verb = "cancelled: it will not be sent" if action == "cancel" else "queued again, due now"
        console.print(f"message {message_id} to {escape(row.to_address)} {verb}", highlight=False)
