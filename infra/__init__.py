"""Adapters to the outside world: settings, PostgreSQL, Kafka, the relay, the local stack."""
