"""Reading a site policy the PCG wrote down, as YAML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from events.policy import PolicyTerms

EXAMPLE_POLICY = Path(__file__).resolve().parent.parent / "infra" / "policy" / "example-policy.yaml"


class PolicyFileError(ValueError):
    """The file is not a policy: the message names each bad field and what is accepted."""


def load_policy(path: Path) -> PolicyTerms:
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PolicyFileError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    try:
        return PolicyTerms.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            f" (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        )
        raise PolicyFileError(f"{path}: {problems}") from None
