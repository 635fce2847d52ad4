"""The Python API: ``halfrate.connect()`` and the :class:`Halfrate` it returns.

This is the only road from the outside (the command line, the web page, a user's script) to the
store: every use they need is a public method of :class:`Halfrate`, with a docstring. The
names a caller needs to type its code (results, reports, estimates, worker modes) are exported
from here too. :mod:`connection` holds the facade, :mod:`reading` and :mod:`tables` its reading
and spreadsheet parts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from halfrate.api.accounts import Account
    from halfrate.api.cache_admin import CacheStat
    from halfrate.api.connection import Halfrate, connect
    from halfrate.api.explaining import explain
    from halfrate.api.policy_admin import MAX_POLICY_BYTES, PolicyInEffect
    from halfrate.api.provider_keys import PROVIDER_NAMES
    from halfrate.api.tables import TablePreview, is_rerun_name
    from halfrate.api.worker_process import WorkerProcess
    from halfrate.calling import CallAnswer
    from halfrate.catalog import DEFAULT_MAX_TOKENS, DEFAULT_MODEL
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
    from halfrate.table_job import TableOptions, TablePlan
    from halfrate.tabular.cells import inert as formula_safe
    from halfrate.tabular.results import format_for

# Each name loads with its module on first use: `halfrate --help`, a mistyped flag or `halfrate
# policy explain` answer without loading the store, the dispatcher, the SDKs or the spreadsheet
# readers (docs/architecture.md). The imports above are what type checkers read.
_WHERE: dict[str, tuple[str, str]] = {
    "Account": ("halfrate.api.accounts", "Account"),
    "AnswerShape": ("halfrate.structured", "AnswerShape"),
    "AuditEntry": ("halfrate.store.audit", "AuditEntry"),
    "Breakdown": ("halfrate.ledger.report", "Breakdown"),
    "CacheStat": ("halfrate.api.cache_admin", "CacheStat"),
    "CallAnswer": ("halfrate.calling", "CallAnswer"),
    "CapStanding": ("halfrate.store.budget_caps", "CapStanding"),
    "Comparison": ("halfrate.ledger.report", "Comparison"),
    "DEFAULT_MAX_TOKENS": ("halfrate.catalog", "DEFAULT_MAX_TOKENS"),
    "DEFAULT_MODEL": ("halfrate.catalog", "DEFAULT_MODEL"),
    "Estimate": ("halfrate.ledger.estimate", "Estimate"),
    "Explained": ("halfrate.routing.explain", "Explained"),
    "GROUP_NAMES": ("halfrate.models", "REPORT_GROUPS"),
    "Halfrate": ("halfrate.api.connection", "Halfrate"),
    "KeyCheck": ("halfrate.providers.key_check", "KeyCheck"),
    "KeyStanding": ("halfrate.store.provider_keys", "KeyStanding"),
    "LaneLine": ("halfrate.ledger.report", "LaneLine"),
    "Line": ("halfrate.ledger.report", "Line"),
    "MAX_POLICY_BYTES": ("halfrate.api.policy_admin", "MAX_POLICY_BYTES"),
    "Missed": ("halfrate.ledger.missed", "Missed"),
    "MissedFeature": ("halfrate.ledger.missed", "MissedFeature"),
    "ModelEstimate": ("halfrate.ledger.estimate", "ModelEstimate"),
    "OwnedJob": ("halfrate.store.accounts", "OwnedJob"),
    "PROVIDER_NAMES": ("halfrate.api.provider_keys", "PROVIDER_NAMES"),
    "Percentiles": ("halfrate.ledger.percentiles", "Percentiles"),
    "PolicyInEffect": ("halfrate.api.policy_admin", "PolicyInEffect"),
    "PolicyVersion": ("halfrate.store.policies", "PolicyVersion"),
    "Progress": ("halfrate.store.reads", "Progress"),
    "Report": ("halfrate.ledger.report", "Report"),
    "RetryWait": ("halfrate.store.reads", "RetryWait"),
    "RunMode": ("halfrate.dispatch", "RunMode"),
    "SpeedLine": ("halfrate.ledger.speed", "SpeedLine"),
    "TableOptions": ("halfrate.table_job", "TableOptions"),
    "TablePlan": ("halfrate.table_job", "TablePlan"),
    "TablePreview": ("halfrate.api.tables", "TablePreview"),
    "TickReport": ("halfrate.dispatch", "TickReport"),
    "Worker": ("halfrate.dispatch", "Worker"),
    "WorkerProcess": ("halfrate.api.worker_process", "WorkerProcess"),
    "WorkerSummary": ("halfrate.dispatch", "WorkerSummary"),
    "breakdown_json": ("halfrate.ledger.report_json", "breakdown_json"),
    "comparison_json": ("halfrate.ledger.report_json", "comparison_json"),
    "connect": ("halfrate.api.connection", "connect"),
    "explain": ("halfrate.api.explaining", "explain"),
    "format_for": ("halfrate.tabular.results", "format_for"),
    "formula_safe": ("halfrate.tabular.cells", "inert"),
    "is_rerun_name": ("halfrate.api.tables", "is_rerun_name"),
    "report_json": ("halfrate.ledger.report_json", "report_json"),
    "secret_configured": ("halfrate.sealing", "secret_configured"),
    "speed_json": ("halfrate.ledger.report_json", "speed_json"),
    "write_lanes_csv": ("halfrate.ledger.report_json", "write_lanes_csv"),
    "write_report_csv": ("halfrate.ledger.report_json", "write_report_csv"),
    "write_speed_csv": ("halfrate.ledger.report_json", "write_speed_csv"),
}


def __getattr__(name: str) -> Any:
    found = _WHERE.get(name)
    if found is None:
        raise AttributeError(f"module 'halfrate.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


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
