"""The web page's people and teams (a part of :class:`halfrate.Halfrate`): accounts with argon2
password hashes, sign-in, and which team may see which job.

A member sees their team's web jobs; an admin sees every job. A job a person may not see is
answered exactly like one that does not exist (:class:`NotFound`), so ids cannot be probed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pwdlib import PasswordHash

from halfrate.errors import InputError, NotFound
from halfrate.models import JobStatus
from halfrate.store import Store
from halfrate.store.accounts import OwnedJob, UserRow

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a megabyte "password" is an attack
MAX_TEAM_CHARS = 200
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}")


@functools.cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@functools.cache
def _dummy_hash() -> str:
    """Checked when no account has the email, so a wrong email costs the same time as a wrong
    password. Made on first use: hashing takes half a second, which no command should pay at
    start-up."""
    return _hasher().hash("halfrate: no such account")


def hash_password(password: str) -> str:
    """The argon2 hash of a password that passed :func:`checked_password`."""
    return _hasher().hash(checked_password(password))


@dataclass(frozen=True)
class Account:
    """A person of the web page (never their password or its hash)."""

    id: str
    email: str
    team: str
    team_id: str
    is_admin: bool
    disabled: bool = False  # may not sign in; signed out everywhere
    sessions_after: float | None = None  # a sign-in before this has ended

    @classmethod
    def of(cls, row: UserRow) -> Account:
        return cls(
            row.id,
            row.email,
            row.team,
            row.team_id,
            row.is_admin,
            row.disabled_at is not None,
            row.sessions_after,
        )

    def session_valid(self, signed_in_at: float) -> bool:
        """Whether a sign-in made at ``signed_in_at`` still stands."""
        if self.disabled:
            return False
        return self.sessions_after is None or signed_in_at >= self.sessions_after


def checked_email(email: str) -> str:
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.fullmatch(cleaned):
        raise InputError(f"{email[:80]!r} is not an email address")
    return cleaned


def checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"the password must be at most {MAX_PASSWORD_CHARS:,} characters")
    return password


def checked_team(team: str) -> str:
    cleaned = " ".join(team.split())
    if not cleaned:
        raise InputError("the team needs a name")
    if len(cleaned) > MAX_TEAM_CHARS or not cleaned.isprintable():
        raise InputError(f"a team name is printable text of at most {MAX_TEAM_CHARS} characters")
    return cleaned


class Accounts:
    """The account methods of :class:`halfrate.Halfrate`."""

    store: Store

    def has_accounts(self) -> bool:
        return self.store.accounts.count_users() > 0

    def add_account(self, email: str, password: str, team: str, *, admin: bool = False) -> Account:
        """A new account in ``team`` (created when new); the password is stored as an argon2
        hash only."""
        address, name = checked_email(email), checked_team(team)
        hashed = hash_password(password)
        return Account.of(self.store.accounts.add_user(address, hashed, name, admin=admin))

    def accounts(self) -> list[Account]:
        return [Account.of(row) for row in self.store.accounts.list_users()]

    def sign_in(self, email: str, password: str) -> Account | None:
        """The account when the password is right (check :attr:`Account.disabled`); None
        otherwise, in about the same time whether or not the email has an account."""
        try:
            row = self.store.accounts.find_user(email=email.strip().lower())
        except NotFound:
            _hasher().verify(password[:MAX_PASSWORD_CHARS], _dummy_hash())
            return None
        valid, newer = _hasher().verify_and_update(password[:MAX_PASSWORD_CHARS], row.password_hash)
        if not valid:
            return None
        if newer is not None:  # the hash parameters were raised since: store the stronger one
            self.store.accounts.set_password_hash(row.id, newer)
        return Account.of(row)

    def account(self, account_id: str) -> Account:
        return Account.of(self.store.accounts.find_user(user_id=account_id))

    def own_job(self, job_id: str, account: Account, upload_name: str | None = None) -> None:
        """Record a job started from the web page as ``account``'s team's."""
        self.store.accounts.own_job(job_id, account.id, account.team_id, upload_name)

    def job_for(self, job: str, account: Account) -> JobStatus:
        """The job's status when ``account`` may see it; NotFound otherwise (the same answer
        as a job that does not exist)."""
        try:
            status = self.store.reads.job_status(job)
        except NotFound:
            raise NotFound("no such job") from None
        if account.is_admin:
            return status
        if self.store.accounts.owner_team(status.id) != account.team_id:
            raise NotFound("no such job")
        return status

    def owned_job_for(self, job: str, account: Account) -> OwnedJob:
        """A web job (by id) when ``account`` may see it, cheaply (no count of its requests);
        NotFound otherwise, the same answer as a job that does not exist. An admin may also
        open a table job started from the command line."""
        found = self.store.accounts.owned_job(job)
        if found is not None:
            owned, team_id = found
            if account.is_admin or team_id == account.team_id:
                return owned
            raise NotFound("no such job")
        if not account.is_admin:
            raise NotFound("no such job")
        try:
            row = self.store.reads.find_job(job)
        except NotFound:
            raise NotFound("no such job") from None
        if row.id != job:
            raise NotFound("no such job")
        return OwnedJob(row.id, row.name, row.created_at, "", None, None, row.cancelled_at)

    def jobs_for(self, account: Account, limit: int = 200) -> list[OwnedJob]:
        """The web jobs ``account`` may see, newest first (an admin: every team's)."""
        return self.store.accounts.owned_jobs(None if account.is_admin else account.team_id, limit)
