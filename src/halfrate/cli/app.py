"""The command line's app: every command registered in the order of a day's work, and the one
error funnel that turns every failure into one line on stderr."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from halfrate import logs
from halfrate.cli import budgets, cache, estimate, jobs, policy, report, run, sandbox, serve, users
from halfrate.cli.help_format import PlainHelpCommand
from halfrate.config import describe_settings
from halfrate.errors import HalfrateError

app = typer.Typer(
    name="halfrate",
    help="Run LLM work nobody is waiting on through the providers' batch APIs, at half price.",
    epilog="Settings (flag > environment > config file > default):\n\n"
    + describe_settings().replace("\n", "\n\n")
    + "\n\nHALFRATE_POLICY  the routing policy file (default: built in; see `halfrate policy`)"
    + "\n\nHALFRATE_WEBHOOK_SECRET  signs webhook sink deliveries (default: unsigned)"
    + '\n\nThe config file also holds [prices."MODEL"] (your own prices); monthly caps are set'
    + " with `halfrate budget`; see the README."
    + "\n\nProviders use their SDKs' own variables: OPENAI_API_KEY, OPENAI_BASE_URL, "
    + "ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(given: bool) -> None:
    if given:
        # importlib.metadata takes about 35 ms to import: every command would pay it at start.
        from importlib.metadata import version

        print(f"halfrate {version('halfrate')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run LLM work nobody is waiting on through the providers' batch APIs, at half price."""


app.command(cls=PlainHelpCommand)(jobs.submit)
app.command(cls=PlainHelpCommand)(jobs.worker)
app.command(cls=PlainHelpCommand)(jobs.cancel)
app.command(cls=PlainHelpCommand)(jobs.status)
app.command(cls=PlainHelpCommand)(jobs.results)
app.command(cls=PlainHelpCommand, epilog=sandbox.faults_help())(sandbox.sandbox)
app.command(cls=PlainHelpCommand)(sandbox.demo)
# After the day-to-day commands, so --help lists them in the order of a day's work.
app.add_typer(policy.policy_app, name="policy")
app.command(cls=PlainHelpCommand)(run.run)
app.command(cls=PlainHelpCommand)(report.report)
app.command(cls=PlainHelpCommand)(estimate.estimate)
app.command(cls=PlainHelpCommand)(serve.serve)
app.add_typer(users.users_app, name="user")
app.add_typer(budgets.budgets_app, name="budget")
app.add_typer(cache.cache_app, name="cache")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app on ``argv`` (default: the process's arguments), turning every
    error into one readable line on stderr and an exit code (``SystemExit``); returns on
    success."""
    debug = os.environ.get("HALFRATE_DEBUG", "").lower() in ("1", "true", "yes")
    # SIGTERM ends a command like Ctrl-C does (what it was writing is cleaned up, one line,
    # code 143), not by the default handler that kills the process mid-write. A worker waiting
    # for batches takes the signal over while it waits, and stops in an orderly way.
    restore = _on_sigterm()
    given = sys.argv[1:] if argv is None else argv
    args = given or ["--help"]  # bare `halfrate` shows the help, as users expect
    try:
        # Without standalone mode, click hands back the code of a typer.Exit instead of exiting.
        code = app(args, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except HalfrateError as exc:
        _fail(logs.redact(str(exc)), debug)
    except typer.Abort:
        _fail("interrupted", debug, code=130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option value): typer's own exception family.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(f"{message}{hint}", debug, code=2)
    except KeyboardInterrupt:
        _fail("interrupted", debug, code=130)
    except Terminated:
        _fail("terminated", debug, code=143)
    except Exception as exc:
        if _SIGTERM_CAME.is_set():
            # A library caught Terminated and raised its own error instead (pydantic wraps an
            # exception raised while it builds a validator): the command was still terminated.
            _fail("terminated", debug, code=143)
        _fail(
            f"unexpected {type(exc).__name__}: {logs.redact(str(exc))} "
            "(set HALFRATE_DEBUG=1 for the traceback)",
            debug,
        )

    finally:
        restore()


class Terminated(BaseException):
    """SIGTERM came: raised where the command is, so it ends like Ctrl-C ends it."""


_SIGTERM_CAME = threading.Event()


def _on_sigterm() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminated(_signum: int, _frame: FrameType | None) -> None:
        _SIGTERM_CAME.set()
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
        _SIGTERM_CAME.clear()

    return restore


def _fail(message: str, debug: bool, code: int = 1) -> None:
    if debug:
        # The traceback carries the messages of every exception in it: keys masked there too.
        print(logs.redact(traceback.format_exc()), file=sys.stderr, end="")
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"halfrate: error: {first}", file=sys.stderr)
    sys.exit(code)
