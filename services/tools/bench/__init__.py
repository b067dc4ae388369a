"""Benchmarks against the raw limits of PostgreSQL and Kafka, measured in the same run.

Each benchmark runs the backend's path and a raw baseline doing the same work with the
bare client, for several rounds, and reports both rates, their ratio, and the spread
over rounds. Absolute figures depend on the machine; ratios are what is compared.
"""
