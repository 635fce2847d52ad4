"""The callback sink: results handed to a Python function registered in the worker process.

Delivery is at least once: a crash after the function returned but before halfrate recorded the
delivery calls it again with the same result. The function must therefore be idempotent by
``result.key`` (an upsert, not an insert). An exception it raises fails that one result, which
halfrate offers again later; the others are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from halfrate.errors import PayloadError
from halfrate.models import Result
from halfrate.sinks.base import DeliveryReport, Outgoing, one_line, to_result, unique_items
from halfrate.sinks.spec import SinkSpec


class CallbackSink:
    """Calls one registered function per result, in order, in the calling thread."""

    def __init__(self, spec: SinkSpec, function: Callable[[Result], None]) -> None:
        self.spec = spec
        self._function = function

    def deliver(self, items: Sequence[Outgoing], cursor: str | None) -> DeliveryReport:
        report = DeliveryReport(cursor=cursor)
        for item in unique_items(items):
            try:
                result = to_result(item)
            except PayloadError as exc:
                report.failed[item.idempotency_key] = one_line(f"{item.key}: {exc}")
                continue
            try:
                self._function(result)
            except Exception as exc:  # the user's code: any failure is that item's failure
                report.failed[item.idempotency_key] = one_line(
                    f"callback {self.spec.target} raised {type(exc).__name__}: {exc}"
                )
                continue
            report.delivered.append(item.idempotency_key)
        return report

    def close(self) -> None:
        """The function belongs to the caller; nothing to release."""
