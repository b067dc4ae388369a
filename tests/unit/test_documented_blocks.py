"""What tests/e2e/test_documented_commands.py runs: the extraction finds every shell
block where a reader sees it, the skip list names only blocks that exist, and the
addresses it rewrites are the defaults the code has."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings
from tests.documented_commands import (
    ADDRESSES,
    SKIPPED,
    Block,
    address,
    for_stack,
    shell_blocks,
    skip_reason,
)

SAMPLE = """\
# A document

```sh
lead infra status
```

```python
print("not a shell")
```

```
an untagged block: a picture, a config file
```

1. A step in a list:

   ```bash
   export LEAD_SITE_ID=x
   lead docs --check
   ```

```shell
lead --version
```

```console
$ lead --version
lead 0.1.0
```
"""


def test_every_shell_block_is_found_with_its_line_and_without_a_list_items_indent(
    tmp_path: Path,
) -> None:
    document = tmp_path / "guide.md"
    document.write_text(SAMPLE)

    blocks = shell_blocks([document], root=tmp_path)

    assert [(b.where, b.language, b.text) for b in blocks] == [
        ("guide.md:3", "sh", "lead infra status\n"),
        ("guide.md:17", "bash", "export LEAD_SITE_ID=x\nlead docs --check\n"),
        ("guide.md:22", "shell", "lead --version\n"),
        ("guide.md:26", "console", "$ lead --version\nlead 0.1.0\n"),
    ]
    lines = SAMPLE.splitlines()
    assert [lines[b.line - 1].strip() for b in blocks] == [f"```{b.language}" for b in blocks]


def test_a_console_block_runs_its_prompted_lines_only() -> None:
    block = Block("x.md", 1, "console", "$ lead --version\nlead 0.1.0\n$ lead docs\n")
    assert block.script == "lead --version\nlead docs\n"
    assert Block("x.md", 1, "sh", "$HOME\n").script == "$HOME\n"


def test_the_readme_quick_start_is_found_and_run() -> None:
    readme = [b for b in shell_blocks() if b.file == "README.md"]
    quick_start = [b for b in readme if "lead principals add officer.reyes" in b.text]

    assert len(quick_start) == 1
    assert skip_reason(quick_start[0]) is None
    assert "/v1/referrals/$ID?min_position=$POSITION" in quick_start[0].text
    assert readme[0].first_line.startswith("make run")  # the one before it: skipped
    assert skip_reason(readme[0]) is not None


def test_the_skip_list_names_only_blocks_that_exist_each_with_a_reason() -> None:
    found = {(b.file, b.first_line) for b in shell_blocks()}
    stale = [key for key in SKIPPED if key not in found]
    assert stale == []
    assert all(reason.strip() for reason in SKIPPED.values())


def test_every_block_that_runs_needs_only_what_a_fresh_machine_has() -> None:
    """The README's prerequisites: no uuidgen (util-linux's, not everywhere)."""
    runs = [b for b in shell_blocks() if skip_reason(b) is None]
    assert runs
    assert [b.where for b in runs if "uuidgen" in b.script] == []


def test_the_rewritten_addresses_are_the_defaults_the_documents_show() -> None:
    """README: the API on 127.0.0.1:8000; docs/deploy.md: the relay's metrics on 6067, a
    worker's on 6066. Another default in the code is another address in the docs."""
    assert [address(None, host, port) for host, port in ADDRESSES] == [
        "127.0.0.1:8000",
        "127.0.0.1:6067",
        "127.0.0.1:6066",
    ]
    documented = "\n".join(b.script for b in shell_blocks() if skip_reason(b) is None)
    assert "http://127.0.0.1:8000/v1/referrals" in documented
    assert "http://127.0.0.1:6067/metrics" in documented

    stack = Settings(api_port=58080, relay_metrics_port=56067, consumer_web_port=56066)
    script = "curl http://127.0.0.1:8000/v1/x; curl 127.0.0.1:6067/metrics 127.0.0.1:6066\n"
    assert for_stack(script, stack) == (
        "curl http://127.0.0.1:58080/v1/x; curl 127.0.0.1:56067/metrics 127.0.0.1:56066\n"
    )
