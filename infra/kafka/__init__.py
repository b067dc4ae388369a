"""Adapters to Kafka: the outbox relay, what it publishes, topic reading, admin, dead letters,
authentication and ACLs; the broker's config files.
"""
