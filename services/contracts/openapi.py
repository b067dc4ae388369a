"""docs/openapi.json: the HTTP API's OpenAPI document, as `lead run` serves it at
/openapi.json, for client generators and reviewers that have no running API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.application import LeadApplication
from services.http.api import create_api
from services.http.telemetry import Telemetry, install
from services.principals import Principals

OPENAPI_FILE = Path("docs") / "openapi.json"

IN_MEMORY = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "MAPPER_TOPIC": "infra.postgres.mapper:PydanticMapper",
    "TRANSCODER_TOPIC": "infra.postgres.mapper:JSONBytesTranscoder",
}
"""Only to build the app: making the document reads no store and connects to nothing."""


def openapi_document() -> dict[str, Any]:
    """The document of the app the composition root builds (its routes and /metrics)."""
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # the document reads nothing
    install(api, Telemetry())
    return api.openapi()


def render_openapi() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def write_openapi(root: Path) -> Path:
    """Write `docs/openapi.json` under `root`."""
    target = root / OPENAPI_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_openapi(), encoding="utf-8", newline="\n")
    return target


def check_openapi(root: Path) -> list[str]:
    """[] when the committed document is what the code generates now."""
    target = root / OPENAPI_FILE
    current = target.is_file() and target.read_bytes() == render_openapi().encode("utf-8")
    return [] if current else [OPENAPI_FILE.as_posix()]
