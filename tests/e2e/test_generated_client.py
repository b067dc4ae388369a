"""A client generated from the API's own OpenAPI document calls the running API.

openapi-python-client (a standard generator) writes a Python package from the document
/openapi.json serves; the test imports it and, with it alone, refers someone, reads the
referral back at the position the write answered, finds it in the list, sees a retry
with the same Idempotency-Key answered from the first time, and gets a problem for a
referral that does not exist. If the generator had skipped a schema or an operation
(it does, with a warning, when two models share a name or a reference is broken), or
named a method after the path, the calls below would not import or not parse.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import Backend
from tests.factories import referral_body

pytestmark = pytest.mark.e2e

PACKAGE = "lead_api_client"


GENERATOR = "openapi-python-client>=0.29,<0.30"


def generator(backend: Backend) -> Path:
    """The generator's own Python, in a venv of its own in the cache directory (made once):
    it pins an older Typer than the CLI's, so it cannot share the project's venv."""
    venv = backend.settings.cache_dir / "openapi-python-client"
    python = venv / "bin" / "python"
    if not (venv / "installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", GENERATOR], check=True, timeout=600
        )
        (venv / "installed").write_text(GENERATOR + "\n")
    return python


@pytest.fixture(scope="module")
def generated(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The package generated from the served document, importable by its name."""
    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_bytes(httpx.get(f"{backend.base_url}/openapi.json", timeout=30).content)
    config = root / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on what it writes
    made = subprocess.run(
        [
            str(generator(backend)),
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # The generator says what it skipped as warnings, and still exits 0.
    assert "Warning" not in made.stdout + made.stderr, made.stdout + made.stderr
    sys.path.insert(0, str(root))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def part(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def token(headers: dict[str, str]) -> str:
    return headers["authorization"].removeprefix("Bearer ")


def test_a_generated_client_refers_reads_back_and_lists(
    generated: str, backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    client_module = part(generated, "client")
    models = part(generated, "models")
    create_referral = part(generated, "api.referrals.create_referral")
    get_referral = part(generated, "api.referrals.get_referral")
    list_referrals = part(generated, "api.referrals.list_referrals")
    get_health = part(generated, "api.operations.get_health")

    public = client_module.Client(base_url=backend.base_url, raise_on_unexpected_status=True)
    health = get_health.sync(client=public)
    assert isinstance(health, models.Health) and health.status == "ok"

    client = client_module.AuthenticatedClient(
        base_url=backend.base_url,
        token=token(people["pm.kim"]),
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(30),
    )
    body = models.ReceiveReferral.from_dict(referral_body(pathway="community"))
    key = str(uuid4())
    sent = create_referral.sync_detailed(client=client, body=body, idempotency_key=key)
    assert sent.status_code == 201, sent.content
    receipt = sent.parsed
    assert isinstance(receipt, models.ReceiptOut), sent.content
    assert "idempotent-replayed" not in sent.headers

    again = create_referral.sync_detailed(client=client, body=body, idempotency_key=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.parsed.id == receipt.id

    referral = get_referral.sync(
        referral_id=receipt.id, client=client, min_position=receipt.position
    )
    assert isinstance(referral, models.ReferralView), referral
    assert referral.referral_id == receipt.id
    assert referral.person_id == receipt.person_id
    assert referral.pathway == models.Pathway.COMMUNITY
    assert referral.incident.nibrs_code == "35A"

    found: list[Any] = []
    cursor: Any = None
    for _ in range(100):  # the shared stack holds the other tests' referrals too
        page = list_referrals.sync(
            client=client,
            pathway=models.Pathway.COMMUNITY,
            limit=1000,
            min_position=receipt.position,
            **({"cursor": cursor} if cursor else {}),
        )
        found += [r for r in page.items if r.referral_id == receipt.id]
        cursor = page.next_cursor
        if found or not cursor:
            break
    assert [r.person_id for r in found] == [receipt.person_id]

    missing = get_referral.sync_detailed(referral_id=uuid4(), client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem) and missing.parsed.status == 404
