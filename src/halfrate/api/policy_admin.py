"""The routing policy as the web page manages it (a part of :class:`halfrate.Halfrate`): what
is in effect and where it comes from, the rules in words, a request's lane explained, and, for
admins, a new policy saved (checked first, with line-numbered errors) or an earlier version
restored.

Which policy routes submissions: a ``--policy`` file or ``$HALFRATE_POLICY`` when given (then
the page shows it but cannot change it: the file wins), else the version saved on the web page,
else the built-in one. Every process reads it the same way, so there is one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from halfrate.api.explaining import saved_source
from halfrate.errors import ConfigError, InputError
from halfrate.intake.submit import Submitter
from halfrate.routing.explain import Explained, explain_route
from halfrate.routing.in_words import RuleInWords, rules_in_words, settings_in_words
from halfrate.routing.policy_file import (
    DEFAULT_SOURCE,
    built_in_text,
    parse_policy,
    policy_file_named,
    policy_file_text,
)
from halfrate.routing.rules import Policy
from halfrate.store import Store
from halfrate.store.policies import PolicyVersion

MAX_POLICY_BYTES = 256 * 1024  # a policy is a page of rules; more is a mistake or an attack


@dataclass(frozen=True)
class PolicyInEffect:
    text: str  # the TOML
    where: str  # in words: the built-in policy, the file X, version N saved by Y
    editable: bool  # False when a file given to this process wins over the saved versions
    version: PolicyVersion | None
    rules: list[RuleInWords]
    settings: list[str]


@dataclass
class PolicyAdmin:
    """The policy methods of :class:`halfrate.Halfrate`."""

    store: Store
    policy: Policy
    submitter: Submitter

    def policy_in_effect(self) -> PolicyInEffect:
        active = self.store.policies.active()
        source = self.policy.source
        if active is not None and source == saved_source(active):
            text, where, editable, version = active.text, _saved_where(active), True, active
        elif source == DEFAULT_SOURCE:
            text, where, editable, version = built_in_text(), "the built-in policy", True, None
        else:
            text = policy_file_text(source)
            where, editable, version = f"the file {source} (HALFRATE_POLICY)", False, None
        return PolicyInEffect(
            text,
            where,
            editable,
            version,
            rules_in_words(self.policy),
            settings_in_words(self.policy),
        )

    def policy_versions(self) -> list[PolicyVersion]:
        return self.store.policies.versions()

    def save_policy(self, text: str, *, note: str, by: str | None = None) -> PolicyVersion:
        """Check ``text`` as a policy (ConfigError naming the line) and make it the one in
        effect, kept as a new version; refused while a policy file wins."""
        self._check_editable()
        if len(text.encode()) > MAX_POLICY_BYTES:
            raise InputError(f"policy: larger than {MAX_POLICY_BYTES // 1024} KB")
        parse_policy(text, "the new policy")  # refused with its line before anything is kept
        version = self.store.policies.save(text, note, by)
        self._use(parse_policy(text, saved_source(version)))
        return version

    def restore_policy(self, version: int, *, by: str | None = None) -> PolicyVersion:
        """Make an earlier saved version the one in effect."""
        self._check_editable()
        restored = self.store.policies.restore(version, by)
        self._use(parse_policy(restored.text, saved_source(restored)))
        return restored

    def route(
        self,
        *,
        feature: str | None = None,
        team: str | None = None,
        deadline: str | None = None,
        waiting: bool = False,
        model: str | None = None,
    ) -> Explained:
        """The lane (and why) this process's policy gives a request like this."""
        return explain_route(
            self.policy,
            datetime.now().astimezone(),
            feature=feature or None,
            team=team or None,
            tags={},
            deadline=deadline or None,
            waiting=waiting,
            model=model or None,
        )

    def _check_editable(self) -> None:
        named = policy_file_named()
        if named is not None:
            raise ConfigError(
                f"HALFRATE_POLICY names {named} on this server, and a file given to the server "
                "wins over the policy saved here: edit that file, or unset the variable"
            )

    def _use(self, policy: Policy) -> None:
        self.policy = policy
        self.submitter.policy = policy


def _saved_where(version: PolicyVersion) -> str:
    who = version.created_by or "the command line"
    when = datetime.fromtimestamp(version.created_at).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"version {version.id}, saved by {who} on {when} ({version.note})"
