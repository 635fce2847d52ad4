"""``python -m halfrate`` runs the command line."""

from halfrate.cli import script

script()
