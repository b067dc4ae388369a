"""The domain: aggregates and their rules. No I/O here."""
