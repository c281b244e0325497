"""The README's "Running a deployment" and "Bootstrapping with `sshgate admin`" examples run
as printed (parsed out of README.md; only the data folder /var/lib/sshgate becomes a
temporary one), and leave bob a member of acme with the contributor grant they promise. A
grant of a user outside the project's organization is refused with the way out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.deployment import sshgate

README = Path(__file__).resolve().parents[2] / "README.md"
DATA_DIR = "/var/lib/sshgate"


def first_block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"^```\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match is not None, heading
    return match.group(1)


def public_key_file(path: Path) -> None:
    key = Ed25519PrivateKey.generate().public_key()
    path.write_bytes(
        key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n"
    )


def run_script(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ALICE_PASSWORD": "alice's long password",
        "BOB_PASSWORD": "bob's long password",
    }
    env.pop("SSHGATE_CONFIG", None)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_bootstrapping_example_works_as_printed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    deployment = first_block_after("## Running a deployment")
    init = next(line for line in deployment.splitlines() if line.startswith("sshgate init"))
    bootstrap = first_block_after("### Bootstrapping with `sshgate admin`")
    public_key_file(tmp_path / "repo-host.pub")
    public_key_file(tmp_path / "web.pub")

    script = "\n".join([init, bootstrap]).replace(DATA_DIR, str(data))
    result = run_script(script, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "bob is contributor of" in result.stdout
    audit = sshgate("admin", "audit", "--json", config=data / "config.toml").stdout
    grants = [e for e in json.loads(audit)["items"] if e["kind"] == "admin:project-grant"]
    assert [e["detail"] for e in grants] == ["bob=contributor"]


def test_a_grant_of_a_user_outside_the_projects_org_says_to_add_the_member_first(
    tmp_path: Path,
) -> None:
    config = tmp_path / "data" / "config.toml"
    sshgate("init", "--data-dir", str(tmp_path / "data"))
    public_key_file(tmp_path / "repo.pub")
    sshgate("admin", "user", "add", "carol", "--email", "carol@example.com",
            "--password-stdin", config=config, stdin="carol's long password\n")  # fmt: skip
    sshgate("admin", "org", "add", "acme", config=config)
    created = sshgate("admin", "project", "add", "acme", "--title", "Web", "--git-upstream",
                      "git@repo:22:/srv/web.git", "--host-key-file", str(tmp_path / "repo.pub"),
                      "--json", config=config)  # fmt: skip
    project = json.loads(created.stdout)["id"]

    refused = sshgate("admin", "project", "grant", project, "carol", "--role", "viewer",
                      config=config, check=False)  # fmt: skip

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "sshgate: carol is not a member of organization acme; add them first:"
        " sshgate admin org member acme carol --role member\n"
    )
