"""halfrate: LLM work nobody is waiting on, at the providers' batch price.

>>> import halfrate
>>> with halfrate.connect() as hr:
...     job = hr.submit_file("requests.jsonl", feature="nightly-triage")
...     hr.run_worker()
...     for result in hr.results(job.job_id): ...

Every name here is public and kept stable (a test guards the list); every exception halfrate
raises on purpose derives from :class:`HalfrateError` (the tree is drawn in
:mod:`halfrate.errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from halfrate.errors import (
    BudgetExceeded,
    CallFailed,
    ConfigError,
    HalfrateError,
    IdempotencyConflict,
    InputError,
    InvalidTransition,
    NotFound,
    PayloadError,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnreachable,
    SinkUnavailable,
    StoreError,
    TransientProviderError,
)
from halfrate.models import (
    CancelOutcome,
    JobStatus,
    Lane,
    Provider,
    RequestSpec,
    RequestState,
    Result,
    SubmitOutcome,
    Usage,
)

if TYPE_CHECKING:
    from halfrate.api import CallAnswer, Halfrate, RunMode, WorkerSummary, connect

__version__ = "0.1.0"

# The API's names load on first use: `import halfrate` (and every command's start-up) does not
# pay for the store, the dispatcher and the SDKs until they are asked for.
_FROM_API = frozenset({"CallAnswer", "Halfrate", "RunMode", "WorkerSummary", "connect"})


def __getattr__(name: str) -> Any:
    if name in _FROM_API:
        return getattr(importlib.import_module("halfrate.api"), name)
    raise AttributeError(f"module 'halfrate' has no attribute {name!r}")


__all__ = [
    "BudgetExceeded",
    "CallAnswer",
    "CallFailed",
    "CancelOutcome",
    "ConfigError",
    "Halfrate",
    "HalfrateError",
    "IdempotencyConflict",
    "InputError",
    "InvalidTransition",
    "JobStatus",
    "Lane",
    "NotFound",
    "PayloadError",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnreachable",
    "RequestSpec",
    "RequestState",
    "Result",
    "RunMode",
    "SinkUnavailable",
    "StoreError",
    "SubmitOutcome",
    "TransientProviderError",
    "Usage",
    "WorkerSummary",
    "__version__",
    "connect",
]
