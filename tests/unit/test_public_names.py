"""The public names: what ``import halfrate`` offers is a promise to users, so the list is
written out here and any change to it is a change to this file too."""

from __future__ import annotations

import inspect

import halfrate
import halfrate.errors

PUBLIC = {
    "BudgetExceeded",
    "CallAnswer",
    "CallFailed",
    "CancelOutcome",
    "ConfigError",
    "Halfrate",
    "HalfrateError",
    "IdempotencyConflict",
    "InputError",
    "InvalidTransition",
    "JobStatus",
    "Lane",
    "NotFound",
    "PayloadError",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnreachable",
    "RequestSpec",
    "RequestState",
    "Result",
    "RunMode",
    "SinkUnavailable",
    "StoreError",
    "SubmitOutcome",
    "TransientProviderError",
    "Usage",
    "WorkerSummary",
    "__version__",
    "connect",
}


def test_the_public_names_are_exactly_the_promised_ones() -> None:
    assert set(halfrate.__all__) == PUBLIC
    assert len(halfrate.__all__) == len(PUBLIC)  # no name listed twice
    for name in PUBLIC:
        assert getattr(halfrate, name) is not None, name


def test_every_exception_a_user_can_catch_is_exported_and_in_the_one_tree() -> None:
    raised = {
        name: value
        for name, value in vars(halfrate.errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == "halfrate.errors"
    }
    assert raised, "halfrate.errors defines the tree"
    for name, cls in raised.items():
        assert issubclass(cls, halfrate.HalfrateError), name
        assert getattr(halfrate, name) is cls, f"halfrate.{name} is not exported"
        # The tree in the module's docstring names every class.
        assert name in (halfrate.errors.__doc__ or ""), f"{name} missing from the drawn tree"


def test_call_failed_is_what_call_raises_and_carries_the_reason() -> None:
    failed = halfrate.CallFailed("request 'k': refused", key="k", status_code=400, code="bad")
    assert isinstance(failed, halfrate.ProviderError)
    assert (failed.key, failed.status_code, failed.code) == ("k", 400, "bad")
    assert str(failed) == "request 'k': refused"
