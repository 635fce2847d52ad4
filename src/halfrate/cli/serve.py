"""`halfrate serve`: the web page, and by default a worker beside it, in one command."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from halfrate import api, logs
from halfrate.cli.console import stderr_console
from halfrate.errors import InputError

LOOPBACK_NAMES = ("localhost",)


def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="port to listen on")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="run no worker here (separate `halfrate worker`s do)"),
    ] = False,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="allow an address other than loopback (needs HALFRATE_WEB_SECRET; serve "
            "behind a proxy that terminates TLS)",
        ),
    ] = False,
) -> None:
    """The web page: upload a spreadsheet, write one prompt, see the price now vs by
    tomorrow, run, watch, download."""
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: a port is 1 to 65535")
    if not _loopback(host) and not public:
        raise InputError(
            f"--host {host} is reachable from other machines: add --public (with "
            "HALFRATE_WEB_SECRET set) and put a proxy that terminates TLS in front"
        )
    # Imported here, not at the top: the web stack (FastAPI, Jinja2, uvicorn) would add to the
    # start-up time of every other command.
    import uvicorn

    from halfrate.web import create_app
    from halfrate.web.security import session_secret

    err = stderr_console()
    logs.configure(verbose=False)  # the worker's warnings, keys masked, like `halfrate worker`
    with api.connect() as hr:
        secret = session_secret(hr.settings.resolved_home, public=public)
        app = create_app(hr, secret=secret, https_only=public, run_worker=not no_worker)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        err.print(
            f"halfrate web page on http://{shown}:{port}/"
            + ("" if no_worker else " (with a worker)")
        )
        token = app.state.web.setup_token
        if token is not None:
            err.print(
                f"no accounts yet: open http://{shown}:{port}/setup?token={token} once to make "
                "the first admin (or `halfrate user add EMAIL --team TEAM --admin`)"
            )
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=public)


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
