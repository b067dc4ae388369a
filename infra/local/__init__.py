"""The development stack: local PostgreSQL, one or several Kafka nodes, their certificates, and
the processes that run them.
"""
