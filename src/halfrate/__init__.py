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

from halfrate.api import CallAnswer, Halfrate, RunMode, WorkerSummary, connect
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

__version__ = "0.1.0"

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
