"""The audit log: who changed budgets, the policy, keys and people, and when. Each change
writes its row in the transaction that makes the change, so the log never misses one nor
records one that did not happen. Rows are only ever added."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.store.admin_tables import audit_log
from halfrate.store.base import Database


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str | None  # an email; None: the command line
    action: str
    target: str
    detail: str | None


def record_audit(
    conn: sa.Connection, actor: str | None, action: str, target: str, detail: str | None
) -> None:
    conn.execute(
        sa.insert(audit_log).values(
            at=time.time(), actor=actor, action=action, target=target[:400], detail=detail
        )
    )


class AuditQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def entries(self, limit: int = 500) -> list[AuditEntry]:
        """The newest changes first."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(
                    audit_log.c.at,
                    audit_log.c.actor,
                    audit_log.c.action,
                    audit_log.c.target,
                    audit_log.c.detail,
                )
                .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
                .limit(limit)
            ).all()
        return [AuditEntry(*row) for row in rows]
