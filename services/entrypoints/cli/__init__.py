"""The `lead` command line: `main` builds the parser from one module per command group
and runs the command chosen."""

from services.entrypoints.cli.main import main

__all__ = ["main"]
