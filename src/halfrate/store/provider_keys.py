"""Provider keys entered on the web page: kept sealed (the Fernet token, never the key), with
the last four characters that are all a page shows, and how the last test of the key went.
Each change writes its audit row in the transaction that makes it (never the key itself)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.errors import NotFound
from halfrate.store.admin_tables import provider_keys
from halfrate.store.audit import record_audit
from halfrate.store.base import Database


@dataclass(frozen=True)
class KeyStanding:
    """What may be shown of a stored key."""

    provider: str
    last4: str
    status: str  # working | failing
    checked_at: float | None
    check_message: str | None
    updated_at: float
    updated_by: str | None


_SHOWN = (
    provider_keys.c.provider,
    provider_keys.c.last4,
    provider_keys.c.status,
    provider_keys.c.checked_at,
    provider_keys.c.check_message,
    provider_keys.c.updated_at,
    provider_keys.c.updated_by,
)


class ProviderKeyQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def standings(self) -> list[KeyStanding]:
        with self._store.read() as conn:
            rows = conn.execute(sa.select(*_SHOWN).order_by(provider_keys.c.provider)).all()
        return [KeyStanding(*row) for row in rows]

    def sealed(self) -> dict[str, str]:
        """Each stored key's sealed token, by provider."""
        with self._store.read() as conn:
            rows = conn.execute(sa.select(provider_keys.c.provider, provider_keys.c.sealed)).all()
        return {provider: sealed for provider, sealed in rows}

    def save(self, provider: str, sealed: str, last4: str, message: str, by: str | None) -> None:
        """Store (or replace) a key that has just passed its test."""
        now = time.time()
        values = {
            "sealed": sealed,
            "last4": last4,
            "status": "working",
            "checked_at": now,
            "check_message": message[:400],
            "updated_at": now,
            "updated_by": by,
        }
        with self._store.write() as conn:
            replaced = conn.execute(
                sa.update(provider_keys).where(provider_keys.c.provider == provider).values(values)
            ).rowcount
            if not replaced:
                conn.execute(sa.insert(provider_keys).values(provider=provider, **values))
            verb = "replaced" if replaced else "saved"
            record_audit(conn, by, "key.set", provider, f"{verb} the key ending in {last4}")

    def record_check(self, provider: str, ok: bool, message: str) -> None:
        """How the latest test of the stored key went (a failing key stays, marked failing)."""
        with self._store.write() as conn:
            found = conn.execute(
                sa.update(provider_keys)
                .where(provider_keys.c.provider == provider)
                .values(
                    status="working" if ok else "failing",
                    checked_at=time.time(),
                    check_message=message[:400],
                )
            ).rowcount
        if not found:
            raise NotFound(f"no {provider} key is stored")

    def remove(self, provider: str, by: str | None) -> None:
        with self._store.write() as conn:
            last4 = conn.execute(
                sa.select(provider_keys.c.last4).where(provider_keys.c.provider == provider)
            ).scalar()
            if last4 is None:
                raise NotFound(f"no {provider} key is stored")
            conn.execute(sa.delete(provider_keys).where(provider_keys.c.provider == provider))
            record_audit(conn, by, "key.remove", provider, f"removed the key ending in {last4}")
