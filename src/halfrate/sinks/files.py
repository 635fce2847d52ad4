"""JSONL and CSV file sinks, exactly once across crashes.

The cursor is the file's committed size in bytes: everything before it was delivered and
recorded by halfrate. Each ``deliver()`` cuts the file back to the cursor (dropping a tail
written by a delivery that crashed before halfrate recorded it), appends the items, fsyncs, and
returns the new size as the cursor. So a result appears once, however often a crash repeats its
delivery.

That only holds if deliveries to one file are serialized and each is given the cursor of the one
before; halfrate does that per sink. The file belongs to the sink: a first delivery (cursor None)
starts it afresh, and a file that became shorter than the cursor (edited or truncated by someone
else) is not written at all, since truncating it further could destroy what they did.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import orjson

from halfrate.errors import PayloadError
from halfrate.sinks.base import DeliveryReport, Outgoing, one_line, to_result, unique_items
from halfrate.sinks.spec import SinkSpec
from halfrate.tabular.results import CSV_COLUMNS, csv_row, result_record

log = logging.getLogger(__name__)


class _Refused(Exception):
    """The file is not in a state halfrate may write to; the message is the reason."""


class FileSink:
    """Appends results to one JSONL or CSV file (the spec's kind says which)."""

    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.path = Path(spec.target)

    def deliver(self, items: Sequence[Outgoing], cursor: str | None) -> DeliveryReport:
        items = unique_items(items)
        if not items:
            return DeliveryReport(cursor=cursor)
        try:
            offset = _offset(cursor)
        except ValueError:
            return DeliveryReport.all_failed(
                items, f"the stored cursor {cursor!r} for {self.path} is not a byte offset", cursor
            )
        data, delivered, failed = self._encode(items, header=offset == 0)
        if not delivered:
            return DeliveryReport(delivered=[], failed=failed, cursor=cursor)
        try:
            size = self._write(offset, data)
        except _Refused as exc:
            reason = one_line(str(exc))
        except OSError as exc:
            reason = one_line(f"cannot write {self.path}: {exc.strerror or exc}")
        else:
            return DeliveryReport(delivered=delivered, failed=failed, cursor=str(size))
        failed.update(dict.fromkeys(delivered, reason))
        return DeliveryReport(delivered=[], failed=failed, cursor=cursor)

    def close(self) -> None:
        """Nothing stays open between deliveries."""

    def _encode(
        self, items: Sequence[Outgoing], *, header: bool
    ) -> tuple[bytes, list[str], dict[str, str]]:
        """The bytes to append, the items they hold, and the items that could not be encoded."""
        delivered: list[str] = []
        failed: dict[str, str] = {}
        if self.spec.kind == "csv":
            text = io.StringIO()
            writer = csv.writer(text)  # "\r\n" line ends, as export.write_csv writes them
            if header:
                writer.writerow(CSV_COLUMNS)
            for item in items:
                try:
                    row = csv_row(to_result(item))
                except PayloadError as exc:
                    failed[item.idempotency_key] = one_line(f"{item.key}: {exc}")
                    continue
                writer.writerow(row)
                delivered.append(item.idempotency_key)
            return text.getvalue().encode("utf-8"), delivered, failed
        lines: list[bytes] = []
        for item in items:
            try:
                lines.append(orjson.dumps(result_record(to_result(item))) + b"\n")
            except (PayloadError, orjson.JSONEncodeError) as exc:
                failed[item.idempotency_key] = one_line(f"{item.key}: {exc}")
                continue
            delivered.append(item.idempotency_key)
        return b"".join(lines), delivered, failed

    def _write(self, offset: int, data: bytes) -> int:
        """Cut the file back to ``offset``, append ``data`` durably, return the new size."""
        folder = self.path.parent
        if not folder.is_dir():
            raise _Refused(f"cannot write {self.path}: the folder {folder} does not exist")
        flags = os.O_RDWR | os.O_CLOEXEC
        if offset == 0:
            flags |= os.O_CREAT
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileNotFoundError:
            raise _Refused(
                f"{self.path} is gone, but halfrate had written {offset} bytes to it; "
                "not starting it again without the earlier results"
            ) from None
        try:
            # Another process writing at the same time would interleave lines with ours.
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size < offset:
                raise _Refused(
                    f"{self.path} has {size} bytes, fewer than the {offset} halfrate wrote: "
                    "it was truncated or edited outside halfrate; not writing to it"
                )
            if size > offset:
                log.warning(
                    "%s: dropping %d bytes after offset %d, written by a delivery that was "
                    "not recorded (they are written again now)",
                    self.path,
                    size - offset,
                    offset,
                )
                os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
        if offset == 0:
            _fsync_folder(folder)  # a new file's name must survive the crash as well
        return offset + len(data)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    offset = int(cursor)
    if offset < 0:
        raise ValueError(cursor)
    return offset


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # some filesystems do not let a folder be opened; the data itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
