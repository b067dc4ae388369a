"""Adapters to PostgreSQL: the event store's recorder and mapper, the projection, key and
idempotency stores, the roles and the chain trigger's SQL.
"""
