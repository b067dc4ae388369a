"""The Dockerfile and compose.yaml a site starts the backend from (docs/deploy.md,
"Containers"). No container engine runs here, so they are checked as CI checks them:
hadolint on the Dockerfile, the Compose Specification's JSON Schema on compose.yaml
(the copy check-jsonschema vendors), and the backend's own settings on what compose.yaml
gives its processes."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.audit.history import signing_key
from infra.settings import Settings, dsn_params
from services import access
from services.bootstrap import Container

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: `make install`"
    return found


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_hadolint_passes_the_dockerfile_and_would_refuse_a_careless_one() -> None:
    ours = run(tool("hadolint"), "Dockerfile")
    assert ours.returncode == 0, ours.stdout + ours.stderr
    careless = run(tool("hadolint"), "-", stdin="FROM python:3.11\nRUN pip install lead\n")
    assert careless.returncode != 0 and "DL3013" in careless.stdout


def test_the_image_runs_lead_as_a_user_of_its_own_and_checks_the_apis_health() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "FROM python:3.11-slim" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert 'ENTRYPOINT ["lead"]' in lines
    health = next(line for line in lines if line.startswith("CMD [") and "/healthz" in line)
    assert health
    assert access.MATRIX[("GET", "/healthz")].public  # the check needs no token
    installs = [line for line in lines if "pip install" in line]
    assert installs and all("--constraint requirements.lock" in line for line in installs)


def test_compose_yaml_conforms_to_the_compose_specification(tmp_path: Path) -> None:
    checked = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    misspelt = tmp_path / "compose.yaml"
    misspelt.write_text("services:\n  api:\n    image: lead\n    restartt: always\n")
    refused = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(misspelt)
    )
    assert refused.returncode != 0 and "restartt" in refused.stdout


def test_compose_starts_kafka_in_kraft_mode_postgres_and_every_backend_process(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in (ROOT / "compose.yaml").read_text().lower()
    assert services["postgres"]["image"].startswith("postgres:")
    commands = {name: s.get("command") for name, s in services.items()}
    assert commands["prepare"] == ["infra", "up"]
    assert commands["api"] == ["api"] and commands["relay"] == ["relay"]
    assert commands["workers"] == ["consumers"]
    for name in ("api", "relay", "workers"):
        assert services[name]["depends_on"]["prepare"]["condition"] == (
            "service_completed_successfully"
        )


def test_no_password_is_written_into_compose_yaml(compose: dict[str, Any]) -> None:
    """Secrets are files mounted in /run/secrets, never values in the file."""
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key or key.endswith("_KEY"):
                assert key.endswith(("_FILE", "_DIR")), f"{name}: {key} holds a secret inline"
                assert str(value).startswith("/run/secrets"), f"{name}: {key}"
        url = (service.get("environment") or {}).get("LEAD_DATABASE_URL")
        if url:
            assert "password" not in dsn_params(url), f"{name}: a password in the URL"
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/")


def test_what_compose_gives_the_backend_is_a_production_site_it_can_start(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The backend's environment from compose.yaml, with its secrets made as
    docs/deploy.md says, read by the backend's settings: each database role connects
    with its own password, and the site's keys load, in production (nothing made)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for role in ("lead", "lead_app", "lead_read", "lead_auditor"):
        (secrets / role).write_text(f"{role}-p@ss%:w/rd\n")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (secrets / "lead_signing_key").write_bytes(pem)
    (secrets / "lead_master_key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")

    env = compose["services"]["api"]["environment"]
    given = {  # as compose interpolates them with nothing set: `${NAME:-default}`
        key.removeprefix("LEAD_").lower(): re.sub(
            r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)
        ).replace("/run/secrets", str(secrets))
        for key, value in env.items()
    }
    settings = Settings(**given, data_dir=tmp_path / "data")
    assert settings.environment == "production"
    assert not settings.local_postgres and not settings.local_kafka
    for role, user in [("owner", "lead"), ("app", "lead_app"), ("read", "lead_read")]:
        params = dsn_params(settings.dsn_for(role))  # type: ignore[arg-type]
        assert (params["user"], params["password"]) == (user, f"{user}-p@ss%:w/rd")
        assert params["host"] == "postgres"
    container = Container(settings)
    assert container.master_keys.current_id().startswith("mk-")
    assert signing_key(container.signing_key_path, create=False)
    assert not (tmp_path / "data").exists()  # production: nothing was made
