"""Tables of what admins set: monthly budget caps, and the audit log of who changed what.

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
