"""The routing policy's versions as admins saved them on the web page: every version kept, at
most one active; saving or restoring one is a single transaction with its audit row."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.errors import NotFound
from halfrate.store.admin_tables import policy_versions
from halfrate.store.audit import record_audit
from halfrate.store.base import Database


@dataclass(frozen=True)
class PolicyVersion:
    id: int
    text: str
    note: str
    created_at: float
    created_by: str | None
    active: bool


class PolicyQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def active(self) -> PolicyVersion | None:
        with self._store.read() as conn:
            row = conn.execute(
                sa.select(policy_versions).where(policy_versions.c.active.is_(True))
            ).first()
        return None if row is None else PolicyVersion(*row)

    def versions(self, limit: int = 50) -> list[PolicyVersion]:
        """The newest first."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(policy_versions).order_by(policy_versions.c.id.desc()).limit(limit)
            ).all()
        return [PolicyVersion(*row) for row in rows]

    def save(self, text: str, note: str, actor: str | None) -> PolicyVersion:
        """A new version, made the active one (the text was checked above)."""
        now = time.time()
        with self._store.write() as conn:
            conn.execute(sa.update(policy_versions).values(active=False))
            made = conn.execute(
                sa.insert(policy_versions).values(
                    text=text, note=note[:400], created_at=now, created_by=actor, active=True
                )
            )
            key = made.inserted_primary_key
            assert key is not None
            version = int(key[0])
            record_audit(conn, actor, "policy.save", f"policy version {version}", note[:400])
        return PolicyVersion(version, text, note, now, actor, True)

    def restore(self, version: int, actor: str | None) -> PolicyVersion:
        """Make an earlier version the active one again."""
        with self._store.write() as conn:
            row = conn.execute(
                sa.select(policy_versions).where(policy_versions.c.id == version)
            ).first()
            if row is None:
                raise NotFound(f"no policy version {version}")
            conn.execute(sa.update(policy_versions).values(active=False))
            conn.execute(
                sa.update(policy_versions)
                .where(policy_versions.c.id == version)
                .values(active=True)
            )
            record_audit(conn, actor, "policy.restore", f"policy version {version}", None)
        return PolicyVersion(row.id, row.text, row.note, row.created_at, row.created_by, True)
