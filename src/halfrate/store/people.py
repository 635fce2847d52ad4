"""What admins change about people (the web page's People page): add, disable, enable, remove,
role and team, and the one-time links that set a password. Each change writes its audit row
in the transaction that makes it.

A link's token is never stored: only its SHA-256, so a copy of the store cannot sign anyone in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.errors import InputError, NotFound
from halfrate.store.accounts import UserRow, delete_user, insert_user, team_id_of
from halfrate.store.admin_tables import account_links
from halfrate.store.audit import record_audit
from halfrate.store.base import Database
from halfrate.store.tables import users


@dataclass(frozen=True)
class LinkRow:
    user_id: str
    purpose: str  # welcome | reset
    expires_at: float
    used_at: float | None


class PeopleQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def add_person(
        self,
        email: str,
        password_hash: str,
        team: str,
        *,
        admin: bool,
        link: tuple[str, float],
        by: str | None,
    ) -> UserRow:
        """A new account with a welcome link (its token's hash, when it expires)."""
        with self._store.write() as conn:
            row = insert_user(conn, email, password_hash, team, admin=admin)
            _insert_link(conn, row.id, "welcome", link, row.created_at, by)
            role = "admin" if admin else "member"
            record_audit(conn, by, "user.add", email, f"{role} of team {team}")
        return row

    def update(
        self, user_id: str, values: dict[str, Any], audit: tuple[str | None, str, str]
    ) -> None:
        """Change the account's columns; ``audit``: (who, action, detail) for the log."""
        by, action, detail = audit
        with self._store.write() as conn:
            email = _email_of(conn, user_id)
            conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            record_audit(conn, by, action, email, detail)

    def move_to_team(self, user_id: str, team: str, by: str | None) -> None:
        with self._store.write() as conn:
            email = _email_of(conn, user_id)
            team_id = team_id_of(conn, team, time.time())
            conn.execute(sa.update(users).where(users.c.id == user_id).values(team_id=team_id))
            record_audit(conn, by, "user.team", email, f"moved to team {team}")

    def remove(self, user_id: str, by: str | None) -> None:
        with self._store.write() as conn:
            email = _email_of(conn, user_id)
            delete_user(conn, user_id)
            record_audit(conn, by, "user.remove", email, "removed; their jobs stay with the team")

    def add_link(self, user_id: str, link: tuple[str, float], by: str | None) -> None:
        """A new password link for the account; its earlier unused links stop working."""
        now = time.time()
        with self._store.write() as conn:
            email = _email_of(conn, user_id)
            conn.execute(
                sa.update(account_links)
                .where(account_links.c.user_id == user_id, account_links.c.used_at.is_(None))
                .values(used_at=now)
            )
            _insert_link(conn, user_id, "reset", link, now, by)
            record_audit(conn, by, "user.reset", email, "made a one-time password link")

    def link(self, token_hash: str) -> LinkRow | None:
        c = account_links.c
        with self._store.read() as conn:
            row = conn.execute(
                sa.select(c.user_id, c.purpose, c.expires_at, c.used_at).where(
                    c.token_hash == token_hash
                )
            ).first()
        return None if row is None else LinkRow(*row)

    def use_link(self, token_hash: str, password_hash: str, now: float) -> str:
        """Set the password of the link's account and use the link up, at once: a link works
        once, and every earlier sign-in of the account ends. Returns the account's id."""
        c = account_links.c
        with self._store.write() as conn:
            used = conn.execute(
                sa.update(account_links)
                .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now)
                .returning(c.user_id)
            ).scalar()
            if used is None:
                raise InputError(
                    "this link has expired or was used already; ask an admin for a new one"
                )
            email = _email_of(conn, used)
            disabled = conn.execute(
                sa.select(users.c.disabled_at).where(users.c.id == used)
            ).scalar()
            if disabled is not None:
                raise InputError("this account is disabled; ask an admin")
            conn.execute(
                sa.update(users)
                .where(users.c.id == used)
                .values(password_hash=password_hash, sessions_after=now)
            )
            record_audit(conn, email, "user.password", email, "set their password with a link")
        return str(used)


def _insert_link(
    conn: sa.Connection,
    user_id: str,
    purpose: str,
    link: tuple[str, float],
    now: float,
    by: str | None,
) -> None:
    token_hash, expires_at = link
    conn.execute(
        sa.insert(account_links).values(
            token_hash=token_hash,
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=expires_at,
            created_by=by,
        )
    )


def _email_of(conn: sa.Connection, user_id: str) -> str:
    email = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar()
    if email is None:
        raise NotFound("no such account")
    return str(email)
