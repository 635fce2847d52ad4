"""The web page's people, their teams, and which team each web job belongs to.

The store keeps password hashes only (made and checked above it, in :mod:`halfrate.api`);
emails are kept lower-cased, so one address is one account however it is typed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.errors import InputError, NotFound
from halfrate.store.admin_tables import account_links
from halfrate.store.base import Database, new_id
from halfrate.store.tables import job_owners, jobs, teams, users


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    password_hash: str
    team_id: str
    team: str
    is_admin: bool
    created_at: float
    disabled_at: float | None = None  # set: may not sign in
    sessions_after: float | None = None  # sign-ins before this are void


@dataclass(frozen=True)
class OwnedJob:
    """A web job with its team and owner: what the jobs list shows beside its figures."""

    job_id: str
    name: str
    created_at: float
    team: str
    owner: str | None  # the owner's email; None once the account is removed
    upload_name: str | None
    cancelled_at: float | None = None  # when it was cancelled


_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.password_hash,
    users.c.team_id,
    teams.c.name,
    users.c.is_admin,
    users.c.created_at,
    users.c.disabled_at,
    users.c.sessions_after,
)


class AccountQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def count_users(self) -> int:
        with self._store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def add_user(self, email: str, password_hash: str, team: str, *, admin: bool) -> UserRow:
        """A new account in ``team`` (created when new); refused when the email has one."""
        with self._store.write() as conn:
            return insert_user(conn, email, password_hash, team, admin=admin)

    def find_user(self, *, email: str | None = None, user_id: str | None = None) -> UserRow:
        query = sa.select(*_USER_COLUMNS).join(teams, teams.c.id == users.c.team_id)
        if email is not None:
            query = query.where(users.c.email == email)
        elif user_id is not None:
            query = query.where(users.c.id == user_id)
        else:
            raise ValueError("find_user needs an email or an id")
        with self._store.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound("no such account")
        return UserRow(*row)

    def list_users(self) -> list[UserRow]:
        query = (
            sa.select(*_USER_COLUMNS)
            .join(teams, teams.c.id == users.c.team_id)
            .order_by(teams.c.name, users.c.email)
        )
        with self._store.read() as conn:
            return [UserRow(*row) for row in conn.execute(query)]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self._store.write() as conn:
            conn.execute(
                sa.update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    def own_job(self, job_id: str, user_id: str, team_id: str, upload_name: str | None) -> None:
        """Record the job as the team's, started by the user (once: the first owner stays)."""
        with self._store.write() as conn:
            found = conn.execute(
                sa.select(job_owners.c.job_id).where(job_owners.c.job_id == job_id)
            ).first()
            if found is None:
                conn.execute(
                    sa.insert(job_owners).values(
                        job_id=job_id,
                        user_id=user_id,
                        team_id=team_id,
                        upload_name=upload_name,
                    )
                )

    def owner_team(self, job_id: str) -> str | None:
        """The team id a web job belongs to; None for a job started elsewhere."""
        with self._store.read() as conn:
            return conn.execute(
                sa.select(job_owners.c.team_id).where(job_owners.c.job_id == job_id)
            ).scalar()

    def owned_jobs(self, team_id: str | None, limit: int = 200) -> list[OwnedJob]:
        """Web jobs, newest first: of one team, or every team's (``team_id`` None)."""
        query = _owned_query().order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if team_id is not None:
            query = query.where(job_owners.c.team_id == team_id)
        with self._store.read() as conn:
            return [OwnedJob(*row) for row in conn.execute(query)]

    def owned_job(self, job_id: str) -> tuple[OwnedJob, str] | None:
        """A web job by id with its team's id; None for a job started elsewhere (or none)."""
        query = _owned_query().add_columns(job_owners.c.team_id).where(jobs.c.id == job_id)
        with self._store.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (OwnedJob(*row[:-1]), row[-1])


def insert_user(
    conn: sa.Connection, email: str, password_hash: str, team: str, *, admin: bool
) -> UserRow:
    """A new account in ``team`` (created when new); refused when the email has one."""
    now = time.time()
    taken = conn.execute(sa.select(users.c.id).where(users.c.email == email)).first()
    if taken is not None:
        raise InputError(f"{email} already has an account")
    team_id = team_id_of(conn, team, now)
    user_id = new_id("user")
    conn.execute(
        sa.insert(users).values(
            id=user_id,
            email=email,
            password_hash=password_hash,
            team_id=team_id,
            is_admin=admin,
            created_at=now,
        )
    )
    return UserRow(user_id, email, password_hash, team_id, team, admin, now)


def delete_user(conn: sa.Connection, user_id: str) -> None:
    """Delete an account with its one-time links; its jobs stay with its team."""
    conn.execute(sa.update(job_owners).where(job_owners.c.user_id == user_id).values(user_id=None))
    conn.execute(sa.delete(account_links).where(account_links.c.user_id == user_id))
    conn.execute(sa.delete(users).where(users.c.id == user_id))


def team_id_of(conn: sa.Connection, team: str, now: float) -> str:
    """The id of the team named ``team``, created when new."""
    team_id = conn.execute(sa.select(teams.c.id).where(teams.c.name == team)).scalar()
    if team_id is None:
        team_id = new_id("team")
        conn.execute(sa.insert(teams).values(id=team_id, name=team, created_at=now))
    return str(team_id)


def _owned_query() -> sa.Select[Any]:
    return (
        sa.select(
            jobs.c.id,
            jobs.c.name,
            jobs.c.created_at,
            teams.c.name,
            users.c.email,
            job_owners.c.upload_name,
            jobs.c.cancel_requested_at,
        )
        .join(job_owners, job_owners.c.job_id == jobs.c.id)
        .join(teams, teams.c.id == job_owners.c.team_id)
        .outerjoin(users, users.c.id == job_owners.c.user_id)
    )
