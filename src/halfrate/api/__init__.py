"""The Python API: ``halfrate.connect()`` and the :class:`Halfrate` it returns.

This is the only road from the outside (the command line, the web page, a user's script) to the
store: every use they need is a public method of :class:`Halfrate`, with a docstring. The
names a caller needs to type its code (results, reports, estimates, worker modes) are exported
from here too. :mod:`connection` holds the facade, :mod:`reading` and :mod:`tables` its reading
and spreadsheet parts.
"""

from __future__ import annotations

from halfrate.api.accounts import Account
from halfrate.api.cache_admin import CacheStat
from halfrate.api.connection import Halfrate, connect, explain
from halfrate.api.policy_admin import MAX_POLICY_BYTES, PolicyInEffect
from halfrate.api.provider_keys import PROVIDER_NAMES
from halfrate.api.tables import TablePreview, is_rerun_name
from halfrate.api.worker_process import WorkerProcess
from halfrate.calling import CallAnswer
from halfrate.dispatch import RunMode, TickReport, Worker, WorkerSummary
from halfrate.ledger.estimate import Estimate, ModelEstimate
from halfrate.ledger.missed import Missed, MissedFeature
from halfrate.ledger.percentiles import Percentiles
from halfrate.ledger.report import GROUP_NAMES, Breakdown, Comparison, LaneLine, Line, Report
from halfrate.ledger.report_json import (
    breakdown_json,
    comparison_json,
    report_json,
    speed_json,
    write_lanes_csv,
    write_report_csv,
    write_speed_csv,
)
from halfrate.ledger.speed import SpeedLine
from halfrate.providers.key_check import KeyCheck
from halfrate.routing.explain import Explained
from halfrate.sealing import secret_configured
from halfrate.store.accounts import OwnedJob
from halfrate.store.audit import AuditEntry
from halfrate.store.budget_caps import CapStanding
from halfrate.store.policies import PolicyVersion
from halfrate.store.provider_keys import KeyStanding
from halfrate.store.reads import Progress, RetryWait
from halfrate.structured import AnswerShape
from halfrate.table_job import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, TableOptions, TablePlan
from halfrate.tabular.cells import inert as formula_safe
from halfrate.tabular.results import format_for

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "GROUP_NAMES",
    "MAX_POLICY_BYTES",
    "PROVIDER_NAMES",
    "Account",
    "AnswerShape",
    "AuditEntry",
    "Breakdown",
    "CacheStat",
    "CallAnswer",
    "CapStanding",
    "Comparison",
    "Estimate",
    "Explained",
    "Halfrate",
    "KeyCheck",
    "KeyStanding",
    "LaneLine",
    "Line",
    "Missed",
    "MissedFeature",
    "ModelEstimate",
    "OwnedJob",
    "Percentiles",
    "PolicyInEffect",
    "PolicyVersion",
    "Progress",
    "Report",
    "RetryWait",
    "RunMode",
    "SpeedLine",
    "TableOptions",
    "TablePlan",
    "TablePreview",
    "TickReport",
    "Worker",
    "WorkerProcess",
    "WorkerSummary",
    "breakdown_json",
    "comparison_json",
    "connect",
    "explain",
    "format_for",
    "formula_safe",
    "is_rerun_name",
    "report_json",
    "secret_configured",
    "speed_json",
    "write_lanes_csv",
    "write_report_csv",
    "write_speed_csv",
]
