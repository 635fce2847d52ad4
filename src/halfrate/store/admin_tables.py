"""Tables of what admins set: monthly budget caps, the routing policy's versions, and the audit
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
