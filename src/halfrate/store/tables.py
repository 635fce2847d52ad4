"""The schema, described once with SQLAlchemy Core. Migrations must build exactly this (a test
compares them). Times are float Unix seconds (UTC) so SQLite and PostgreSQL agree exactly.
"""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.models import BatchState, Lane, RequestState

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, values: list[str]) -> str:
    """A CHECK that ``column`` holds one of ``values``: ``=`` tests joined by OR, not IN, which
    SQLite builds into a temporary table on every run of a statement, every row of a bulk
    INSERT (a request row's two checks were 40% of its insert; docs/architecture.md)."""
    return " OR ".join(f"{column} = '{v}'" for v in values)


# Requests the deadline guard watches: batched, not finished (waiting, or in a batch: a call is
# already answering it), with a deadline. The text of a partial index, and of the queries that
# must match it for SQLite to use it.
GUARDED = (
    "guard_at IS NOT NULL AND lane = 'batch' AND "
    f"state IN ('{RequestState.QUEUED.value}', '{RequestState.IN_BATCH.value}')"
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    # Set by `halfrate cancel`: queued requests end cancelled, its batches are cancelled.
    sa.Column("cancel_requested_at", sa.Double, nullable=True),
    # `halfrate run` jobs: the table and what was asked of it, as JSON (see table_job.py).
    sa.Column("table_plan", sa.Text, nullable=True),
    sa.UniqueConstraint("name"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("request_count", sa.Integer, nullable=False),
    sa.Column("byte_count", sa.BigInteger, nullable=False),
    sa.Column("provider_batch_id", sa.String(200), nullable=True),
    sa.Column("provider_status", sa.String(32), nullable=True),
    sa.Column("input_file_id", sa.String(200), nullable=True),
    sa.Column("output_file_id", sa.String(200), nullable=True),
    sa.Column("error_file_id", sa.String(200), nullable=True),
    sa.Column("provider_errors", sa.Text, nullable=True),  # JSON: whole-batch validation errors
    sa.Column("completed_count", sa.Integer, nullable=True),
    sa.Column("failed_count", sa.Integer, nullable=True),
    # Set just before the create call: from then on the batch may exist at the provider even if
    # we never learn its id, so a restart looks for it (by our id in metadata) before creating.
    sa.Column("create_started_at", sa.Double, nullable=True),
    sa.Column("submit_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("poll_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_poll_at", sa.Double, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("submitted_at", sa.Double, nullable=True),
    sa.Column("ended_at", sa.Double, nullable=True),
    sa.Column("ingested_at", sa.Double, nullable=True),
    # Set when halfrate asked the provider to cancel, and why (e.g. "deadline_guard").
    sa.Column("cancel_requested_at", sa.Double, nullable=True),
    sa.Column("cancel_reason", sa.String(32), nullable=True),
    sa.CheckConstraint(_one_of("state", [s.value for s in BatchState]), name="state"),
    sa.UniqueConstraint("provider", "provider_batch_id"),
    sa.Index(None, "state", "next_poll_at"),
)

# What the routing policy decided, once per kind of request in a submission (requests share it).
routes = sa.Table(
    "routes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("lane", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("fallback_lane", sa.String(16), nullable=True),  # flex: when flex is unavailable
    sa.Column("waiting", sa.Boolean, nullable=False),
    sa.Column("rule_number", sa.Integer, nullable=True),  # None: no rule matched
    sa.Column("rule_name", sa.String(200), nullable=True),
    sa.Column("policy_source", sa.Text, nullable=False),
    sa.Column("rule_line", sa.Integer, nullable=True),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # The lifetime of a prompt-cache marker outside batches ("5m" or "1h"; batches use 1h).
    sa.Column("prompt_cache_ttl", sa.String(4), nullable=True),
    sa.CheckConstraint(_one_of("lane", [lane.value for lane in Lane]), name="lane"),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),  # the caller's custom_id: unique within its job
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    # The body itself lives in request_bodies (its module says why); its size stays here, for
    # packing batches.
    sa.Column("body_bytes", sa.Integer, nullable=False),
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("tags", sa.Text, nullable=True),  # JSON object of the caller's other tags
    sa.Column("state", sa.String(16), nullable=False),
    # The lane it runs in now: the route's, unless the deadline guard or a flex fallback moved it.
    sa.Column("lane", sa.String(16), nullable=False, server_default=Lane.BATCH.value),
    sa.Column("route_id", BigId, sa.ForeignKey("routes.id"), nullable=True),
    sa.Column("requested_model", sa.String(200), nullable=True),  # when the policy changed it
    # A digest of provider, endpoint and body: identical requests share one answer (dedup and
    # the response cache). Empty for requests the policy keeps out of sharing.
    sa.Column("content_hash", sa.BigInteger, nullable=True),
    # The prompt prefix it shares with other requests (docs/prompt-caching.md): its group's
    # digest, about how many tokens it holds, and how many leading parts it spans where halfrate
    # may mark it for the provider's cache (empty: the body goes as sent).
    sa.Column("prefix_key", sa.String(16), nullable=True),
    sa.Column("prefix_tokens", sa.Integer, nullable=True),
    sa.Column("prefix_parts", sa.Integer, nullable=True),
    # Lane cache: the identical request whose answer this one gets (then it is copied here).
    sa.Column("answered_by", BigId, nullable=True),
    sa.Column("moved_by", sa.String(32), nullable=True),  # why it left its route's lane
    sa.Column("deadline", sa.Double, nullable=True),
    sa.Column("guard_at", sa.Double, nullable=True),  # batched: from then on, move to realtime
    sa.Column("batch_id", sa.String(40), sa.ForeignKey("batches.id"), nullable=True),
    sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", sa.Double, nullable=True),  # retry backoff: not taken before this
    sa.Column("lease_until", sa.Double, nullable=True),  # in_call: the caller's lease
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.CheckConstraint(_one_of("state", [s.value for s in RequestState]), name="state"),
    sa.CheckConstraint(_one_of("lane", [lane.value for lane in Lane]), name="lane"),
    sa.UniqueConstraint("job_id", "key"),
    # Partial indexes: a request is in each only while it is queued (or in a batch, or in a
    # call), so the millions of finished rows cost nothing on every later state change.
    sa.Index(
        "ix_requests_ready",
        "lane",
        "provider",
        "endpoint",
        "model",
        "id",
        sqlite_where=sa.text("state = 'queued'"),
        postgresql_where=sa.text("state = 'queued'"),
    ),
    sa.Index(
        "ix_requests_in_call",
        "lease_until",
        sqlite_where=sa.text("state = 'in_call'"),
        postgresql_where=sa.text("state = 'in_call'"),
    ),
    sa.Index(
        "ix_requests_guard",
        "guard_at",
        sqlite_where=sa.text(GUARDED),
        postgresql_where=sa.text(GUARDED),
    ),
    sa.Index(
        "ix_requests_in_batch",
        "batch_id",
        "id",
        sqlite_where=sa.text("state = 'in_batch'"),
        postgresql_where=sa.text("state = 'in_batch'"),
    ),
    sa.Index(
        "ix_requests_queued_prefix",  # a new submission joins the prefix groups still queued
        "prefix_key",
        sqlite_where=sa.text("state = 'queued' AND prefix_key IS NOT NULL"),
        postgresql_where=sa.text("state = 'queued' AND prefix_key IS NOT NULL"),
    ),
    sa.Index(None, "job_id", "id"),  # a job's requests in submission order (status, results)
    # Requests are looked up by content_hash through request_hashes (its own module says why).
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", BigId, sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("batch_id", sa.String(40), sa.ForeignKey("batches.id"), nullable=True),
    sa.Column("lane", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # succeeded | failed | retry | cancelled
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("input_tokens", sa.Integer, nullable=True),
    sa.Column("cached_tokens", sa.Integer, nullable=True),
    sa.Column("output_tokens", sa.Integer, nullable=True),
    sa.Column("reasoning_tokens", sa.Integer, nullable=True),
    sa.Column("cache_write_tokens", sa.Integer, nullable=True),
    sa.Column("cache_write_1h_tokens", sa.Integer, nullable=True),
    # Synchronous calls: seconds to the first token, mean seconds between tokens, whole call.
    sa.Column("ttft", sa.Double, nullable=True),
    sa.Column("tibt", sa.Double, nullable=True),
    sa.Column("duration", sa.Double, nullable=True),
    # Costs in billionths of a US dollar (integers: sums are exact): what this attempt cost,
    # what the same tokens cost in realtime, and in the lane its route chose (they differ when
    # the deadline guard or a fallback moved it). Empty: a model without a known price.
    sa.Column("cost_nano", sa.BigInteger, nullable=True),
    sa.Column("realtime_cost_nano", sa.BigInteger, nullable=True),
    sa.Column("route_cost_nano", sa.BigInteger, nullable=True),
    sa.Column("price_source", sa.String(100), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    # The request's provider, model (as sent), feature and team, copied in: a ledger row says
    # on its own what it was for, so reports over millions of rows need no join.
    sa.Column("provider", sa.String(20), nullable=True),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("feature", sa.String(200), nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    # A request's first attempt: seconds from its submission until it was sent (the batch's
    # create, or the call's start). Later attempts leave it empty.
    sa.Column("queue_seconds", sa.Double, nullable=True),
    # Lane cache: how the answer was got (CacheKind); the realtime cost is the saving.
    sa.Column("cache_kind", sa.String(16), nullable=True),
    # Ingesting the same output twice must change nothing: one attempt per request per batch.
    sa.UniqueConstraint("request_id", "batch_id"),
    sa.Index(None, "created_at"),  # reports over a time range
)

results = sa.Table(
    "results",
    metadata,
    # Rows append in arrival order (providers return lines shuffled); the small unique index on
    # request_id is what makes a result land once. Keying the rows themselves by request_id
    # made every shuffled insert a random B-tree write, ~3x slower on a 50,000-line batch.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", BigId, sa.ForeignKey("requests.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response", sa.Text, nullable=True),  # the provider's response body, as JSON
    sa.Column("error", sa.Text, nullable=True),  # {"code", "message"} as JSON
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("request_id"),
)


# Rollups of the ledger, kept in the transaction that stores each attempt, so reports over
# millions of attempts read thousands of rows. Per UTC day and everything a report groups or
# filters by; empty text stands for "none" (a NULL would defeat the upsert's conflict key).
# ``waiting``, ``moved`` and ``slack_hours`` tell realtime work that could have waited for a
# batch (missed savings); other lanes keep them at 0, 0 and -1. ``slack_hours``: whole hours
# from submission to the deadline, -1 without one. ``cache_kind``: lane cache's dedup or
# response (empty for other lanes).
LEDGER_DAY_KEYS = (
    "day",
    "provider",
    "model",
    "feature",
    "team",
    "lane",
    "waiting",
    "moved",
    "slack_hours",
    "cache_kind",
)
LEDGER_DAY_SUMS = (
    "attempts",
    "requests",  # attempts that ended their request (not retries)
    "billed",  # attempts with usage
    "unpriced",  # billed attempts without a known price
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_nano",
    "realtime_cost_nano",
)
ledger_days = sa.Table(
    "ledger_days",
    metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),  # Unix seconds // 86400
    sa.Column("provider", sa.String(20), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("feature", sa.String(200), primary_key=True),
    sa.Column("team", sa.String(200), primary_key=True),
    sa.Column("lane", sa.String(16), primary_key=True),
    sa.Column("waiting", sa.Integer, primary_key=True),
    sa.Column("moved", sa.Integer, primary_key=True),
    sa.Column("slack_hours", sa.Integer, primary_key=True),
    sa.Column("cache_kind", sa.String(16), primary_key=True),
    *(sa.Column(name, sa.BigInteger, nullable=False) for name in LEDGER_DAY_SUMS),
)

# Budget reservations: the estimate of a job, per budget it counts against, taken in the
# transaction that stores the job and counted (less what the job has spent) until it finishes.
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # feature | team
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("month_start", sa.Double, nullable=False),  # the UTC month it counts in
    sa.Column("reserved_nano", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index(None, "kind", "name", "month_start"),
)


def request_state_is(state: RequestState) -> sa.ColumnElement[bool]:
    """``requests.state = '<state>'`` as a literal, not a bound parameter: only then can SQLite
    (and PostgreSQL's generic plans) prove that the partial indexes above apply."""
    return requests.c.state == sa.literal_column(f"'{state.value}'")


# Where a job's results are written back (a file, a SQL table, a webhook, a callback).
sinks = sa.Table(
    "sinks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # canonical spec text; never holds a secret
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("cursor", sa.Text, nullable=True),  # the sink's own progress (a file's length)
    # One worker delivers to a sink at a time (a file must not be appended to by two).
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("job_id", "spec"),
)

# The outbox: a row per (sink, result), written in the transaction that stores the result, so a
# result is never forgotten by its sinks; delivered_at is set once the sink has it.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("sink_id", sa.String(40), sa.ForeignKey("sinks.id"), primary_key=True),
    sa.Column("request_id", BigId, sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("delivered_at", sa.Double, nullable=True),
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_try_at", sa.Double, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_deliveries_pending",
        "sink_id",
        "next_try_at",
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    ),
)

# People of the web page: each belongs to one team; an admin sees every team's work.
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("name"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),  # stored lower-cased
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2: never the password itself
    sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("disabled_at", sa.Double, nullable=True),  # set: cannot sign in, signed out
    sa.Column("sessions_after", sa.Double, nullable=True),  # sign-ins before it are void
    sa.UniqueConstraint("email"),
)

# Who started a job from the web page, and for which team: what a member may see.
job_owners = sa.Table(
    "job_owners",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
    sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=False),
    sa.Column("upload_name", sa.String(255), nullable=True),  # as shown; never used as a path
    sa.Index("ix_job_owners_team_id", "team_id"),
)
