"""Both official SDKs raise the same family of exceptions (they are generated alike); this maps
it onto halfrate's, keeping the cause, for every batch call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from halfrate.errors import (
    ProviderAuthError,
    ProviderRejected,
    ProviderUnreachable,
    TransientProviderError,
)


@contextlib.contextmanager
def mapped(
    sdk: ModuleType, provider: str, what: str, message: Callable[[Any], str]
) -> Iterator[None]:
    """Map ``sdk``'s exceptions raised inside the block; ``message`` words a status error."""
    try:
        yield
    except sdk.APIConnectionError as exc:  # includes timeouts
        raise ProviderUnreachable(f"{provider} {what}: cannot reach the API: {exc}") from exc
    except (sdk.AuthenticationError, sdk.PermissionDeniedError) as exc:
        raise ProviderAuthError(
            f"{provider} {what}: the API refused the key: {message(exc)}"
        ) from exc
    except (sdk.RateLimitError, sdk.InternalServerError) as exc:
        raise TransientProviderError(f"{provider} {what}: {message(exc)}") from exc
    except sdk.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            raise TransientProviderError(f"{provider} {what}: {message(exc)}") from exc
        raise ProviderRejected(
            f"{provider} {what}: {message(exc)}", status_code=exc.status_code
        ) from exc
