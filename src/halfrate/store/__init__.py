"""The store: the only place with SQL. One :class:`Store` per database, with narrow parts for
submitting, dispatching, ingesting and reading; every state change goes through
:mod:`halfrate.store.transitions`."""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.pricing.prices import PriceBook
from halfrate.store.accounts import AccountQueries
from halfrate.store.answers import AnswerQueries
from halfrate.store.audit import AuditQueries
from halfrate.store.base import Database
from halfrate.store.batch_input import BatchInputQueries
from halfrate.store.budget_caps import BudgetCapQueries
from halfrate.store.calls import CallQueries
from halfrate.store.cancels import CancelQueries
from halfrate.store.deliveries import DeliveryQueries
from halfrate.store.engine import create_engine, migrate
from halfrate.store.guard import GuardQueries
from halfrate.store.ingest import IngestQueries
from halfrate.store.ledger_calls import CallLedgerQueries
from halfrate.store.ledger_reads import LedgerQueries
from halfrate.store.people import PeopleQueries
from halfrate.store.policies import PolicyQueries
from halfrate.store.provider_keys import ProviderKeyQueries
from halfrate.store.queue import QueueQueries
from halfrate.store.reads import ReadQueries
from halfrate.store.response_cache import ResponseCacheQueries
from halfrate.store.submissions import SubmissionQueries
from halfrate.store.table_runs import TableRunQueries


class Store(Database):
    """One database: its parts hold the queries, each for one stage of a request's life."""

    def __init__(self, engine: sa.Engine, prices: PriceBook | None = None) -> None:
        super().__init__(engine, prices if prices is not None else PriceBook())
        self.submissions = SubmissionQueries(self)
        self.queue = QueueQueries(self)
        self.batch_input = BatchInputQueries(self)
        self.ingest = IngestQueries(self)
        self.calls = CallQueries(self)
        self.guard = GuardQueries(self)
        self.reads = ReadQueries(self)
        self.cancels = CancelQueries(self)
        self.deliveries = DeliveryQueries(self)
        self.ledger = LedgerQueries(self)
        self.call_ledger = CallLedgerQueries(self)
        self.answers = AnswerQueries(self)
        self.table_runs = TableRunQueries(self)
        self.accounts = AccountQueries(self)
        self.budget_caps = BudgetCapQueries(self)
        self.audit = AuditQueries(self)
        self.policies = PolicyQueries(self)
        self.people = PeopleQueries(self)
        self.provider_keys = ProviderKeyQueries(self)
        self.response_cache = ResponseCacheQueries(self)

    @classmethod
    def open(
        cls, url: str, *, prices: PriceBook | None = None, migrate_schema: bool = True
    ) -> Store:
        """Connect to ``url`` (and bring its schema up to date). ``prices``: the price book
        that prices attempts as they are stored (default: the bundled prices alone)."""
        engine = create_engine(url)
        if migrate_schema:
            migrate(engine)
        return cls(engine, prices)


__all__ = ["Database", "Store"]
