"""halfrate's own processes run the cycle collector tuned for bulk work; a program that imports
halfrate (or a test running the command line in its process) keeps its own settings."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
from importlib.metadata import entry_points

from halfrate.collector import YOUNG_THRESHOLD

PROBE = """
import gc, sys
sys.argv = ["halfrate", "--help"]
from halfrate.cli import script
try:
    script()
except SystemExit:
    pass
print(gc.get_threshold()[0], gc.get_freeze_count() > 0, file=sys.stderr)
"""


def test_the_halfrate_program_tunes_the_collector() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "halfrate"]
    assert script.value == "halfrate.cli:script"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr.split() == [str(YOUNG_THRESHOLD), "True"]


def test_running_main_in_a_process_keeps_its_collector_settings() -> None:
    from halfrate.cli import main

    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with contextlib.suppress(SystemExit):
        main(["--help"])
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
