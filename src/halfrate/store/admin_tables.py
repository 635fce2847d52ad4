"""Tables of what admins set: monthly budget caps, the routing policy's versions, the provider
keys entered on the web page, the one-time links that set a person's password, and the audit
log of who changed what.

They share :data:`halfrate.store.tables.metadata` (the schema the migrations build).
"""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.store.tables import metadata

# Monthly caps per feature and per team, in nano-dollars: the one place they are kept (the
# command line's `halfrate budget` and the web page's Budgets page both write here).
budget_caps = sa.Table(
    "budget_caps",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # feature | team
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("monthly_nano", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("updated_by", sa.String(320), nullable=True),  # an email, or None: the command line
)

# The routing policy as admins saved it (uploaded, edited or restored on the web page): every
# version is kept; the active one (at most one) routes submissions unless HALFRATE_POLICY or a
# --policy file says otherwise.
policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("text", sa.Text, nullable=False),  # the TOML, as saved
    sa.Column("note", sa.String(400), nullable=False),  # how it came: edited, uploaded NAME, ...
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Who changed caps, the policy, keys and people, and when. Rows are only ever added.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor", sa.String(320), nullable=True),  # an email; None: the command line
    sa.Column("action", sa.String(40), nullable=False),  # budget.set, budget.remove, ...
    sa.Column("target", sa.String(400), nullable=False),  # what it was done to
    sa.Column("detail", sa.Text, nullable=True),  # in words; never a secret
    sa.Index(None, "at"),
)

# Provider keys entered on the web page's Keys page, sealed (Fernet) with a key derived from
# HALFRATE_SECRET_KEY: the store never holds a key in plain text (docs/security.md).
provider_keys = sa.Table(
    "provider_keys",
    metadata,
    sa.Column("provider", sa.String(20), primary_key=True),  # openai | anthropic
    sa.Column("sealed", sa.Text, nullable=False),  # the Fernet token of the key
    sa.Column("last4", sa.String(4), nullable=False),  # all that is ever shown of it
    sa.Column("status", sa.String(16), nullable=False),  # working | failing
    sa.Column("checked_at", sa.Double, nullable=True),
    sa.Column("check_message", sa.String(400), nullable=True),  # never holds the key
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("updated_by", sa.String(320), nullable=True),
)

# One-time links that let a person set their password: made by an admin when adding them
# ("welcome") or resetting it ("reset"). Only a hash of the link's token is kept.
account_links = sa.Table(
    "account_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 hex of the token
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),  # welcome | reset
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double, nullable=True),
    sa.Column("created_by", sa.String(320), nullable=True),
    sa.Index(None, "user_id"),
)

# `halfrate cache clear`: answers stored before ``before`` (of one feature, or of every feature
# when None) no longer answer identical requests. The answers themselves stay (they are results).
response_cache_clears = sa.Table(
    "response_cache_clears",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("before", sa.Double, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("by", sa.String(320), nullable=True),  # an email; None: the command line
)
