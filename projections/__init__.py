"""Read models: pure functions event -> row changes, their tables, and their queries."""
