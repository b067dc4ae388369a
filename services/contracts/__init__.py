"""The contract documents generated from the code: event catalog, JSON Schemas, AsyncAPI,
access matrix, the generated tables of docs/security.md.
"""
