"""Provider keys entered on the web page (a part of :class:`halfrate.Halfrate`).

A key is tested with the provider's cheapest call (listing models) before it is saved, and
saved only when the provider accepts it: a key the provider refuses is never stored. A stored
key that later fails its test stays, marked failing, so the page can say so. Keys are sealed
with ``HALFRATE_SECRET_KEY`` (:mod:`halfrate.sealing`); without it nothing is saved. Workers of
the store use the stored keys in place of ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.

No message made here holds a key: only its last four characters are ever shown.
"""

from __future__ import annotations

from halfrate.errors import InputError
from halfrate.providers.key_check import KeyCheck, check_key
from halfrate.sealing import Sealer
from halfrate.store import Store
from halfrate.store.provider_keys import KeyStanding

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}
MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 400


def checked_provider(provider: str) -> str:
    if provider not in PROVIDER_NAMES:
        raise InputError(f"provider: {provider[:40]!r} is not one of {', '.join(PROVIDER_NAMES)}")
    return provider


def checked_key(provider: str, key: str) -> str:
    """The key as it can be sent; an InputError naming the field (never showing the key)."""
    field = f"{PROVIDER_NAMES[provider]} API key"
    cleaned = key.strip()  # pasted keys often carry a space or a line break at an end
    if not cleaned:
        raise InputError(f"{field}: it is empty")
    if any(not (" " < char < "\x7f") for char in cleaned):
        raise InputError(
            f"{field}: it holds a space, a line break or a character outside ASCII, which no "
            "key has (halfrate never shows the key)"
        )
    if not MIN_KEY_CHARS <= len(cleaned) <= MAX_KEY_CHARS:
        raise InputError(
            f"{field}: a key is {MIN_KEY_CHARS} to {MAX_KEY_CHARS} characters; this one is "
            f"{len(cleaned):,}"
        )
    return cleaned


class ProviderKeys:
    """The provider-key methods of :class:`halfrate.Halfrate`."""

    store: Store

    def provider_keys(self) -> list[KeyStanding]:
        """What may be shown of each stored key: its last four characters and its last test."""
        return self.store.provider_keys.standings()

    def save_provider_key(self, provider: str, key: str, *, by: str | None = None) -> KeyCheck:
        """Test ``key`` with the provider, then store it sealed. InputError (nothing saved)
        when the provider refuses it or cannot be reached; ConfigError when
        ``HALFRATE_SECRET_KEY`` is not set."""
        provider = checked_provider(provider)
        cleaned = checked_key(provider, key)
        sealer = Sealer()  # refuses before the key goes anywhere when there is no secret
        checked = check_key(provider, cleaned)
        if not checked.ok:
            raise InputError(f"{checked.message} The key was not saved.")
        self.store.provider_keys.save(
            provider, sealer.seal(cleaned), cleaned[-4:], checked.message, by
        )
        return checked

    def test_provider_key(self, provider: str) -> KeyCheck:
        """Test the stored key again and record how it went (a failing key is kept, marked
        failing). NotFound when none is stored."""
        provider = checked_provider(provider)
        key = self.stored_provider_keys().get(provider)
        if key is None:
            raise InputError(f"no {PROVIDER_NAMES[provider]} key is stored")
        checked = check_key(provider, key)
        self.store.provider_keys.record_check(provider, checked.ok, checked.message)
        return checked

    def remove_provider_key(self, provider: str, *, by: str | None = None) -> None:
        self.store.provider_keys.remove(checked_provider(provider), by)

    def stored_provider_keys(self) -> dict[str, str]:
        """The stored keys, opened, by provider: for the workers' SDK clients only. Empty when
        none is stored; ConfigError when some are but ``HALFRATE_SECRET_KEY`` is missing or is
        not the one they were sealed with."""
        sealed = self.store.provider_keys.sealed()
        if not sealed:
            return {}
        sealer = Sealer()
        return {provider: sealer.open(token) for provider, token in sealed.items()}
