"""halfrate: LLM work nobody is waiting on, at the providers' batch price.

>>> import halfrate
>>> with halfrate.connect() as hr:
...     job = hr.submit_file("requests.jsonl", feature="nightly-triage")
...     hr.run_worker()
...     for result in hr.results(job.job_id): ...
"""

from __future__ import annotations

from halfrate.api import Halfrate, connect
from halfrate.dispatch import RunMode, WorkerSummary
from halfrate.errors import (
    ConfigError,
    HalfrateError,
    IdempotencyConflict,
    InputError,
    NotFound,
    ProviderAuthError,
    ProviderError,
    StoreError,
)
from halfrate.models import JobStatus, Provider, RequestSpec, RequestState, Result, SubmitOutcome

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Halfrate",
    "HalfrateError",
    "IdempotencyConflict",
    "InputError",
    "JobStatus",
    "NotFound",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "RequestSpec",
    "RequestState",
    "Result",
    "RunMode",
    "StoreError",
    "SubmitOutcome",
    "WorkerSummary",
    "__version__",
    "connect",
]
