"""The People page's changes (a part of :class:`halfrate.Halfrate`): add a person, disable or
enable them, remove them, change their role or team, and make a one-time link that sets their
password. Each is recorded in the audit log with who did it.

An added person gets no password from the admin: they set their own through a welcome link, so
no password travels between two people. A link works once, within its time, and setting a
password through it ends every earlier sign-in of the account. An admin may not disable,
remove or demote themselves, so there is always an admin left to undo a mistake.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from halfrate.api.accounts import Account, checked_email, checked_team, hash_password
from halfrate.errors import InputError, NotFound
from halfrate.store import Store

WELCOME_LINK_SECONDS = 7 * 86400
RESET_LINK_SECONDS = 24 * 3600
MAX_TOKEN_CHARS = 200


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_link(seconds: float) -> tuple[str, tuple[str, float]]:
    """A new link token, and what the store keeps of it (its hash, when it expires)."""
    token = secrets.token_urlsafe(32)
    return token, (_token_hash(token), time.time() + seconds)


class People:
    """The people-changing methods of :class:`halfrate.Halfrate` (the caller is an admin)."""

    store: Store

    def add_person(
        self, email: str, team: str, *, admin: bool = False, by: Account | None = None
    ) -> tuple[Account, str]:
        """A new account and the token of its one-time welcome link (valid 7 days), through
        which the person sets their own password. Until then nobody can sign in as them."""
        address, name = checked_email(email), checked_team(team)
        # A password nobody knows, thrown away: the account is usable only through the link.
        unusable = hash_password(secrets.token_urlsafe(32))
        token, link = _new_link(WELCOME_LINK_SECONDS)
        row = self.store.people.add_person(
            address, unusable, name, admin=admin, link=link, by=_who(by)
        )
        return Account.of(row), token

    def password_link(self, email: str, *, by: Account | None = None) -> str:
        """A one-time link token (valid 24 hours) that lets the person set a new password;
        earlier links of theirs stop working. Their password works until they use it."""
        account = self._person(email)
        token, link = _new_link(RESET_LINK_SECONDS)
        self.store.people.add_link(account.id, link, _who(by))
        return token

    def link_account(self, token: str) -> Account | None:
        """The account a link is for, while the link works; None otherwise."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        found = self.store.people.link(_token_hash(token))
        if found is None or found.used_at is not None or found.expires_at <= time.time():
            return None
        try:
            account = Account.of(self.store.accounts.find_user(user_id=found.user_id))
        except NotFound:
            return None
        return None if account.disabled else account

    def set_password_with_link(self, token: str, password: str) -> Account:
        """Set the password of the link's account; the link is used up and every earlier
        sign-in of the account ends. InputError when the link does not work."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InputError("this link is not a halfrate password link")
        hashed = hash_password(password)
        user_id = self.store.people.use_link(_token_hash(token), hashed, time.time())
        return Account.of(self.store.accounts.find_user(user_id=user_id))

    def disable_person(self, email: str, *, by: Account | None = None) -> Account:
        """The person can no longer sign in, and is signed out everywhere at once."""
        account = self._changeable(email, by, "disable")
        if not account.disabled:
            values = {"disabled_at": time.time()}
            self.store.people.update(account.id, values, (_who(by), "user.disable", "disabled"))
        return self._person(email)

    def enable_person(self, email: str, *, by: Account | None = None) -> Account:
        account = self._person(email)
        if account.disabled:
            values = {"disabled_at": None, "sessions_after": time.time()}
            self.store.people.update(account.id, values, (_who(by), "user.enable", "enabled"))
        return self._person(email)

    def set_role(self, email: str, *, admin: bool, by: Account | None = None) -> Account:
        account = self._person(email)
        if account.is_admin != admin:
            if not admin:
                self._changeable(email, by, "make a member")
            role = "admin" if admin else "member"
            audit = (_who(by), "user.role", f"made {role}")
            self.store.people.update(account.id, {"is_admin": admin}, audit)
        return self._person(email)

    def set_team(self, email: str, team: str, *, by: Account | None = None) -> Account:
        account, name = self._person(email), checked_team(team)
        if account.team != name:
            self.store.people.move_to_team(account.id, name, _who(by))
        return self._person(email)

    def remove_person(self, email: str, *, by: Account | None = None) -> None:
        """Remove the account; its jobs stay with its team."""
        account = self._changeable(email, by, "remove")
        self.store.people.remove(account.id, _who(by))

    def _person(self, email: str) -> Account:
        try:
            return Account.of(self.store.accounts.find_user(email=checked_email(email)))
        except NotFound:
            raise NotFound(f"no account for {email.strip()[:80]}") from None

    def _changeable(self, email: str, by: Account | None, what: str) -> Account:
        account = self._person(email)
        if by is not None and by.id == account.id:
            raise InputError(f"you cannot {what} yourself (another admin can)")
        return account


def _who(by: Account | None) -> str | None:
    return None if by is None else by.email
