"""Who is asking, and whether to believe them: the session's secret, the CSRF token every form
carries, and the limit on sign-in attempts.

Sessions are signed cookies (Starlette's ``SessionMiddleware``: itsdangerous, HttpOnly,
SameSite=Lax, an expiry) holding the account id, the CSRF token and when the sign-in happened;
never a password or a hash. The signing secret is ``HALFRATE_WEB_SECRET``, or on a loopback
server without one a random secret kept in ``$HALFRATE_HOME/web-secret`` (readable by its owner
only), so a restart keeps people signed in.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from halfrate.errors import ConfigError
from halfrate.private import private_folder

SECRET_ENV = "HALFRATE_WEB_SECRET"
MIN_SECRET_CHARS = 32
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SIGN_IN_WINDOW_SECONDS = 15 * 60
SIGN_IN_MAX_FAILURES = 5  # per address and per account, within the window


def session_secret(home: Path, *, public: bool) -> str:
    """The secret that signs session cookies. A public server must be given one (a secret made
    up on the spot would not be shared by a second server behind the same address)."""
    given = os.environ.get(SECRET_ENV)
    if given:
        if len(given) < MIN_SECRET_CHARS:
            raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        return given
    if public:
        raise ConfigError(
            f"--public needs {SECRET_ENV} set (at least {MIN_SECRET_CHARS} random characters): "
            "it signs the sign-in cookies"
        )
    path = home / "web-secret"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    private_folder(home)
    made = secrets.token_urlsafe(48)
    # Created readable by its owner only, before the secret is written into it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(made)
    return made


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class SignInLimiter:
    """Failed sign-ins per address and per account in a sliding window; a key over the limit
    is refused until its oldest failure leaves the window. In memory: one server process keeps
    its own count (several processes each allow the limit)."""

    def __init__(
        self,
        max_failures: int = SIGN_IN_MAX_FAILURES,
        window_seconds: float = SIGN_IN_WINDOW_SECONDS,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, *keys: str) -> float:
        """How long the first of ``keys`` over the limit must wait (0: none is)."""
        now = time.monotonic()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _wait(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.max_failures:
            return 0.0
        return times[0] + self.window - now
