"""`python -m services.entrypoints.cli COMMAND`, as the supervisor starts each process."""

import sys

from services.entrypoints.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
