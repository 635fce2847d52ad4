"""The dispatcher: packing, submitting, polling and ingesting batches, and the worker loop."""

from halfrate.dispatch.dispatcher import Dispatcher, TickReport
from halfrate.dispatch.worker import RunMode, Worker, WorkerSummary

__all__ = ["Dispatcher", "RunMode", "TickReport", "Worker", "WorkerSummary"]
