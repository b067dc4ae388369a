"""The shell blocks of README.md and docs/*.md, as a reader copies them, and what the
test that runs each one (tests/e2e/test_documented_commands.py) needs to know: which
blocks cannot run against a test stack and why, and which documented addresses stand
for the test stack's own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from infra.settings import PROJECT_ROOT, Settings

DOCUMENTS = (PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md")))
SHELLS = frozenset({"sh", "bash", "shell", "console"})


@dataclass(frozen=True)
class Block:
    file: str  # relative to the checkout
    line: int  # of the opening fence, from 1
    language: str
    text: str  # the block's content, as a reader copies it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.strip().splitlines()[0].strip()

    @property
    def script(self) -> str:
        """What a shell is given: the block, or a `console` block's `$ ` lines without
        their prompt (the other lines are the output shown)."""
        if self.language != "console":
            return self.text
        return "".join(
            line.removeprefix("$ ") + "\n"
            for line in self.text.splitlines()
            if line.startswith("$ ")
        )


def shell_blocks(documents: Iterable[Path] = DOCUMENTS, root: Path = PROJECT_ROOT) -> list[Block]:
    """Every fenced block tagged sh, bash, shell or console, in document order. A block
    inside a list item comes without the item's indentation (CommonMark's rule, kept by
    markdown-it)."""
    parser = MarkdownIt("commonmark")
    blocks = []
    for document in documents:
        for token in parser.parse(document.read_text()):
            language = token.info.split()[0] if token.info.strip() else ""
            if token.type == "fence" and language in SHELLS and token.map is not None:
                blocks.append(
                    Block(
                        str(document.relative_to(root)),
                        token.map[0] + 1,
                        language,
                        token.content,
                    )
                )
    return blocks


# The blocks that cannot run against a test stack, by file and first line (lines move
# when a document is edited; the first line names the block). Every other block runs and
# must pass. An entry that names no block fails tests/unit/test_documented_commands.py.
SKIPPED: dict[tuple[str, str], str] = {
    (
        "README.md",
        "make run    # install, start Kafka + PostgreSQL + API + relay + consumers; "
        "Ctrl-C stops them",
    ): "`make run` keeps the stack in the foreground until Ctrl-C (the test walks the "
    "commands that follow it against a stack of its own); `make test` is this suite",
    (
        "docs/deploy.md",
        "export LEAD_KAFKA_BOOTSTRAP=kafka-1:9092,kafka-2:9092,kafka-3:9092",
    ): "points `lead infra up` at a site's Kafka cluster (hosts kafka-1..3 do not exist here)",
    (
        "docs/deploy.md",
        "lead infra up --brokers 3      # or LEAD_KAFKA_BROKERS=3 for lead infra up / lead run",
    ): "`lead infra down` would stop the stack under test, and three brokers need a data "
    "directory of their own (tests/cluster/test_three_brokers.py runs them)",
    (
        "docs/deploy.md",
        ".venv/bin/pytest tests/cluster -m cluster -x -q -s      # about 2 minutes",
    ): "pytest itself: the multi-broker suite, minutes on a stack of its own",
    (
        "docs/security.md",
        "kcat -C -b broker.example.org:9092 -G county-prosecutor.cases lead.prosecution.v1 \\",
    ): "a prosecutor's system on a fictional broker with its own password file; kcat is "
    "not a prerequisite",
    (
        "docs/security.md",
        "cat > prosecutor.properties <<'END'",
    ): "a fictional broker and a placeholder password; tests/integration/"
    "test_kafka_security.py runs this console consumer against the test stack",
    (
        "docs/security.md",
        ".venv/bin/lead keys generate               # prints mk-NEW:BASE64 once; nothing is stored",
    ): "every process is restarted with new LEAD_MASTER_KEYS between its steps",
    (
        "docs/deploy.md",
        "mkdir -p secrets",
    ): "a container host's secrets: `sudo chown` to the containers' uid, and no sudo or "
    "container engine here",
    (
        "docs/deploy.md",
        "docker compose build",
    ): "no container engine runs here; CI lints the Dockerfile (hadolint) and validates "
    "compose.yaml against the Compose schema instead",
}


def skip_reason(block: Block) -> str | None:
    return SKIPPED.get((block.file, block.first_line))


# Addresses the documents give as the defaults (host setting, port setting), rewritten
# to the test stack's: its API and metrics listen on ports of their own.
ADDRESSES: tuple[tuple[str, str], ...] = (
    ("api_host", "api_port"),  # the API
    ("metrics_host", "relay_metrics_port"),  # the relay's metrics
    ("metrics_host", "consumer_web_port"),  # a worker's metrics
)


def address(settings: Settings | None, host: str, port: str) -> str:
    """`host:port` as `settings` has them, or the defaults the documents show."""
    if settings is None:
        fields = Settings.model_fields
        return f"{fields[host].default}:{fields[port].default}"
    return f"{getattr(settings, host)}:{getattr(settings, port)}"


def for_stack(script: str, settings: Settings) -> str:
    """The script with each documented default address replaced by the stack's."""
    for host, port in ADDRESSES:
        script = script.replace(address(None, host, port), address(settings, host, port))
    return script


# What runs before each block: the shell stops at the first failing command, an unset
# variable or a failing stage of a pipe, and curl fails on an HTTP error, showing the
# answer's body (`-s` alone would exit 0 on a 404 or a 500).
PRELUDE = """\
set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
"""
