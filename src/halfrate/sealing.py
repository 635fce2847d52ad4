"""Sealing secrets for the store: provider keys entered on the web page are kept as Fernet
tokens (AES-128-CBC with an HMAC-SHA256, from ``cryptography``) under a key derived from
``HALFRATE_SECRET_KEY``, so the store never holds a key in plain text (docs/security.md).

The variable may be any random text of at least 32 characters: HKDF-SHA256 turns it into the
Fernet key, so nobody has to make a key in Fernet's own format.
"""

from __future__ import annotations

import base64
import os

from halfrate.errors import ConfigError

SECRET_KEY_ENV = "HALFRATE_SECRET_KEY"
MIN_SECRET_CHARS = 32
_INFO = b"halfrate provider keys v1"

NO_SECRET = (
    f"{SECRET_KEY_ENV} is not set: halfrate stores provider keys only encrypted, with that "
    f"secret. Set it to at least {MIN_SECRET_CHARS} random characters (for example the output "
    'of `python -c "import secrets; print(secrets.token_urlsafe(32))"`), keep it safe, and '
    "restart halfrate"
)
WRONG_SECRET = (
    f"the stored provider keys were encrypted with another {SECRET_KEY_ENV}: set the one they "
    "were saved with, or save the keys again on the Keys page"
)


def secret_configured() -> bool:
    return bool(os.environ.get(SECRET_KEY_ENV))


class Sealer:
    """Seals and opens text with the key derived from ``HALFRATE_SECRET_KEY``."""

    def __init__(self, secret: str | None = None) -> None:
        # cryptography loads OpenSSL bindings: imported when a key is sealed or opened, not
        # when halfrate starts (most commands never need it).
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        given = os.environ.get(SECRET_KEY_ENV) if secret is None else secret
        if not given:
            raise ConfigError(NO_SECRET)
        if len(given) < MIN_SECRET_CHARS:
            raise ConfigError(f"{SECRET_KEY_ENV} must be at least {MIN_SECRET_CHARS} characters")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            given.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConfigError(WRONG_SECRET) from None
