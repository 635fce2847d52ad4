"""One exception tree for halfrate.

Every error a user can cause or meet derives from :class:`HalfrateError`; its ``str()`` is the one
readable line the CLI prints. Library errors (SQLAlchemy, the SDKs, the OS) are mapped to these at
the boundary with ``raise ... from`` so the cause stays available under ``HALFRATE_DEBUG=1``.
Every class here is exported by ``halfrate`` itself. The tree::

    HalfrateError
    ├── ConfigError              a setting, the config file or the policy file is invalid
    ├── InputError               a file, flag or field is invalid; nothing was stored
    │   ├── IdempotencyConflict  a key was submitted before with a different request
    │   └── BudgetExceeded       a submission would take a monthly budget past its cap
    ├── NotFound                 no such job, request or batch
    ├── StoreError               the database cannot be reached or used
    ├── InvalidTransition        a state change the state machine forbids (a bug)
    ├── ProviderError            a provider call failed in a way halfrate could not absorb
    │   ├── ProviderUnreachable
    │   ├── ProviderAuthError
    │   ├── TransientProviderError   may pass by itself: rate limit, 5xx, timeout
    │   ├── ProviderRejected     will not pass by itself (4xx)
    │   └── CallFailed           ``Halfrate.call()`` got no answer
    ├── SinkUnavailable          a sink cannot be opened in this process now; deliveries wait
    └── PayloadError             a stored result cannot be read back (also a ValueError)
"""

from __future__ import annotations


class HalfrateError(Exception):
    """Root of every error halfrate raises on purpose."""


class ConfigError(HalfrateError):
    """A setting is missing or invalid."""


class InputError(HalfrateError):
    """A file, flag or field the user gave is invalid. Nothing was stored."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.source = source
        self.line = line
        where = ""
        if source is not None and line is not None:
            where = f"{source}, line {line}: "
        elif source is not None:
            where = f"{source}: "
        super().__init__(f"{where}{message}")


class IdempotencyConflict(InputError):
    """A request key was submitted before with a different request."""


class BudgetExceeded(InputError):
    """A submission's estimate would take a budget past its monthly cap."""


class NotFound(HalfrateError):
    """A job, request or batch the user named does not exist."""


class StoreError(HalfrateError):
    """The database cannot be reached or is not in a usable state."""


class InvalidTransition(HalfrateError):
    """A state change that the state machine does not allow (a bug, never user input)."""


class ProviderError(HalfrateError):
    """A provider call failed in a way the dispatcher could not absorb."""


class ProviderUnreachable(ProviderError):
    """The provider (or the sandbox) could not be reached at all."""


class ProviderAuthError(ProviderError):
    """The provider refused the credentials, or none were given."""


class TransientProviderError(ProviderError):
    """A provider call failed in a way that may pass: rate limit, 5xx, timeout. Try again later."""


class ProviderRejected(ProviderError):
    """The provider refused a call for a reason that will not pass by itself (4xx)."""

    def __init__(self, message: str, *, status_code: int | None = None):
        self.status_code = status_code
        super().__init__(message)


class CallFailed(ProviderError):
    """A call made with ``Halfrate.call()`` got no answer: the provider refused the request,
    or could not answer after the retries. The request is recorded as failed, with this reason."""

    def __init__(self, message: str, *, key: str, status_code: int | None, code: str | None):
        self.key = key
        self.status_code = status_code
        self.code = code
        super().__init__(message)


class SinkUnavailable(HalfrateError):
    """The sink cannot be opened in this process right now (a callback that is not registered
    here, a URL variable that is not set); halfrate keeps its deliveries pending."""


class PayloadError(HalfrateError, ValueError):
    """A stored result's JSON text cannot be read back (a bug or a damaged row): that one item
    fails, the others are delivered."""
