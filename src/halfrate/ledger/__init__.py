"""The ledger: what each attempt cost, what realtime would have cost, and where prices come from."""
