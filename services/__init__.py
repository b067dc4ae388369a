"""Use cases (application services) and the entrypoints that drive them: HTTP API, CLI."""
