"""The reference pages say what the code does, and a clone is complete: every certificate
rule the gateway can audit is in docs/reference/certificates.md and nothing else is, every
relative link of the README and docs/ names a file of the repository, and no file points at
a contract outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sshgate.ssh_gateway import CHECKS

ROOT = Path(__file__).resolve().parents[2]
# Decided by the connection around the checks: before them (the blob is not a certificate
# or does not parse, the address is refusing too fast) or instead of them (no store).
TEXT = {".py", ".md", ".toml", ".txt", ".sql", ".sh", ".html", ".css", ".js", ""}
OUTSIDE_CHECKS = {"not-a-certificate", "malformed", "rate-limited", "store-unavailable"}


def test_the_certificate_reference_lists_exactly_the_rules_the_gateway_audits() -> None:
    text = (ROOT / "docs" / "reference" / "certificates.md").read_text(encoding="utf-8")
    section = text[text.index("## Refusal rules") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    listed = set(re.findall(r"^\| `([a-z-]+)` \|", section, re.MULTILINE))
    assert listed == {name for name, _ in CHECKS} | OUTSIDE_CHECKS


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_relative_link_of_the_docs_names_a_file_of_the_repository() -> None:
    broken = []
    for page in markdown_files():
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_no_file_of_the_repository_points_at_a_contract_outside_it() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = re.compile(r"\.\./shared/|PRODUCT\.md|STYLE\.md")
    pointing = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in TEXT or not path.is_file():
            continue
        if path == Path(__file__).resolve():
            continue
        if outside.search(path.read_text(encoding="utf-8", errors="replace")):
            pointing.append(name)
    assert pointing == []
