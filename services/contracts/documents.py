"""`lead docs`: every generated contract document, written or checked in one place.

The event catalog and JSON Schemas (catalog.py), the AsyncAPI document (asyncapi.py), the
HTTP API's OpenAPI document (openapi.py), the access matrix (access_matrix.py) and the
generated tables of docs/security.md (security_tables.py). A unit test runs `stale` so
what is committed never drifts from the code.
"""

from __future__ import annotations

from pathlib import Path

from services.contracts.access_matrix import markdown as access_matrix
from services.contracts.asyncapi import check_asyncapi, write_asyncapi
from services.contracts.catalog import check_docs, write_docs
from services.contracts.openapi import check_openapi, write_openapi
from services.contracts.security_tables import with_current_acls, with_current_table

MATRIX = Path("docs") / "access.md"
SECURITY = Path("docs") / "security.md"  # hand-written, with generated tables in it


def _security(root: Path) -> str:
    return with_current_acls(with_current_table((root / SECURITY).read_text()))


def stale(root: Path) -> list[str]:
    """The generated documents under `root` that differ from what the code says now."""
    found = check_docs(root) + check_asyncapi(root) + check_openapi(root)
    matrix = root / MATRIX
    if not matrix.exists() or matrix.read_text() != access_matrix():
        found.append(str(MATRIX))
    if (root / SECURITY).read_text() != _security(root):
        found.append(str(SECURITY))
    return found


def write(root: Path) -> list[Path]:
    """Write every generated document under `root`; the paths written."""
    (root / MATRIX).write_text(access_matrix())
    (root / SECURITY).write_text(_security(root))
    return [
        *write_docs(root),
        write_asyncapi(root),
        write_openapi(root),
        root / MATRIX,
        root / SECURITY,
    ]
