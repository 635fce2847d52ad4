"""Provider adapters over the official SDKs."""
