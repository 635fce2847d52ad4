"""The web page (`halfrate serve`): people who do not code run a spreadsheet at batch price.
It reaches halfrate through :mod:`halfrate.api` alone, like the command line."""

from halfrate.web.app import create_app

__all__ = ["create_app"]
