"""`halfrate user add|list|disable|enable|remove`: the web page's accounts, for scripts and for
the first admin. Changes are in the audit log, as made from the command line.

A password never appears on the command line (it would sit in the shell's history and in the
process list): it is read from stdin when stdin is piped, asked twice without echo on a
terminal, or made up and printed once with ``--generate-password``.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.help_format import PlainHelpCommand
from halfrate.errors import InputError

users_app = typer.Typer(help="The web page's accounts: people, their teams, who is admin.")

Email = Annotated[str, typer.Argument(metavar="EMAIL", help="the person's email address")]


@users_app.command(cls=PlainHelpCommand)
def add(
    email: Email,
    team: Annotated[str, typer.Option(metavar="TEAM", help="their team (created when new)")],
    admin: Annotated[bool, typer.Option("--admin", help="sees and runs every team's work")] = False,
    generate_password: Annotated[
        bool,
        typer.Option("--generate-password", help="make up a strong password and print it once"),
    ] = False,
) -> None:
    """Add an account; the password comes from stdin, a prompt, or --generate-password."""
    password = _password(generate_password)
    with api.connect() as hr:
        made = hr.add_account(email, password, team, admin=admin)
    role = "admin" if made.is_admin else "member"
    stdout_console().print(f"added {made.email} ({role} of team {made.team})")
    if generate_password:
        print(f"password: {password}")


@users_app.command(name="list", cls=PlainHelpCommand)
def list_users() -> None:
    """Every account: email, team, role."""
    with api.connect() as hr:
        found = hr.accounts()
    out = stdout_console()
    if not found:
        out.print("no accounts yet: `halfrate user add EMAIL --team TEAM --admin` adds the first")
        return
    for account in found:
        role = "admin" if account.is_admin else "member"
        state = "  disabled" if account.disabled else ""
        out.print(f"{account.email}  {account.team}  {role}{state}", markup=False)


@users_app.command(cls=PlainHelpCommand)
def disable(email: Email) -> None:
    """Stop an account from signing in; it is signed out at once."""
    with api.connect() as hr:
        done = hr.disable_person(email)
    stdout_console().print(f"disabled {done.email}", markup=False)


@users_app.command(cls=PlainHelpCommand)
def enable(email: Email) -> None:
    """Let a disabled account sign in again."""
    with api.connect() as hr:
        done = hr.enable_person(email)
    stdout_console().print(f"enabled {done.email}", markup=False)


@users_app.command(cls=PlainHelpCommand)
def remove(email: Email) -> None:
    """Remove an account; its jobs stay with its team."""
    with api.connect() as hr:
        hr.remove_person(email)
    stdout_console().print(f"removed {email.strip().lower()}", markup=False)


def _password(generate: bool) -> str:
    if generate:
        return secrets.token_urlsafe(18)
    if not sys.stdin.isatty():
        given = sys.stdin.readline().rstrip("\r\n")
        if not given:
            raise InputError("no password on stdin: pipe one in, or use --generate-password")
        return given
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
