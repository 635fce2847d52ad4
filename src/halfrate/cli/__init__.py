"""The command line: ``halfrate`` and its commands. It goes through :mod:`halfrate.api` alone
(and the sandbox, for ``halfrate sandbox`` and ``halfrate demo``)."""

from __future__ import annotations

from halfrate.cli.app import main

__all__ = ["main"]
