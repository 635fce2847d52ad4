"""Spreadsheets uploaded to the web page, kept on disk for the account that sent them.

An upload is saved as ``$HALFRATE_HOME/uploads/<random id>/table.<csv|tsv|xlsx>``: the name
the person's computer gave the file is only ever shown (escaped), never part of a path. A
small ``upload.json`` beside it says whose it is and what it was called. Only its owner (or an
admin) can use an upload; for anyone else it does not exist. The size limit is counted while
the file streams in, so an oversized upload never fills the disk.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from halfrate.api import Account
from halfrate.errors import InputError, NotFound
from halfrate.private import FOLDER_MODE, open_private, private_folder

KINDS = (".csv", ".tsv", ".xlsx")
CHUNK = 1 << 20
MAX_NAME_CHARS = 255
_ID = re.compile(r"up_[A-Za-z0-9_-]{20,40}")


@dataclass(frozen=True)
class Upload:
    id: str
    path: Path  # where the table is on disk
    name: str  # the name it was uploaded under: shown, never used as a path
    owner_id: str
    created_at: float


class Uploads:
    def __init__(self, home: Path, max_bytes: int) -> None:
        self.root = home / "uploads"
        self.max_bytes = max_bytes

    def save(self, stream: BinaryIO, name: str, owner: Account) -> Upload:
        """Store an uploaded table; refused (nothing kept) when it is not a spreadsheet
        halfrate reads or is over the size limit."""
        shown = display_name(name)
        suffix = Path(shown).suffix.lower()
        if suffix not in KINDS:
            raise InputError(f"{shown}: upload a .csv, .tsv or .xlsx spreadsheet")
        upload_id = "up_" + secrets.token_urlsafe(24)
        folder = private_folder(self.root) / upload_id
        folder.mkdir(mode=FOLDER_MODE)
        path = folder / f"table{suffix}"
        try:
            size = 0
            with open_private(path) as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InputError(
                            f"{shown} is larger than the {self.max_bytes / 2**20:,.0f} MB limit "
                            "for uploads: split it, or run it with `halfrate run`"
                        )
                    out.write(chunk)
            if size == 0:
                raise InputError(f"{shown} is empty")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        made = Upload(upload_id, path, shown, owner.id, time.time())
        meta = {"name": shown, "owner_id": owner.id, "created_at": made.created_at}
        with open_private(folder / "upload.json") as handle:
            handle.write(orjson.dumps(meta))
        return made

    def discard(self, upload: Upload) -> None:
        shutil.rmtree(upload.path.parent, ignore_errors=True)

    def find(self, upload_id: str, account: Account) -> Upload:
        """The upload when ``account`` may use it; NotFound otherwise."""
        if not _ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        folder = self.root / upload_id
        try:
            meta = orjson.loads((folder / "upload.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            raise NotFound("no such upload") from None
        if meta["owner_id"] != account.id and not account.is_admin:
            raise NotFound("no such upload")
        tables = [p for p in folder.iterdir() if p.name.startswith("table.")]
        if not tables:
            raise NotFound("no such upload")
        return Upload(upload_id, tables[0], meta["name"], meta["owner_id"], meta["created_at"])


def display_name(name: str | None) -> str:
    """The uploaded file's own name, cut to its last part and to printable characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:MAX_NAME_CHARS] or "upload"


# The table job's messages name the command line's flags; the page names its own fields.
FIELDS = {
    "prompt": "Prompt",
    "system": "Instructions",
    "columns": "Columns",
    "model": "Model",
    "sheet": "Sheet",
    "max-tokens": "the answer length limit",
    "temperature": "Temperature",
    "retry-failed": "Re-run failed rows",
}
_FLAG = re.compile(r"(?<![\w-])--(" + "|".join(re.escape(flag) for flag in FIELDS) + r")\b")


def for_the_page(message: str) -> str:
    """A message as the page's reader knows things: its fields' names, not the flags'."""
    return _FLAG.sub(lambda found: FIELDS[found.group(1)], message)


def shown_error(message: str, upload: Upload | None) -> str:
    """An error about an upload, naming it as its owner knows it, never by its path here, and
    naming the page's fields."""
    message = for_the_page(message)
    if upload is None:
        return message
    return message.replace(str(upload.path.resolve()), upload.name).replace(
        str(upload.path), upload.name
    )
