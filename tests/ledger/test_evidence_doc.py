"""The offline procedure of docs/evidence.md works as written: its 20-line check verifies a real proof made by
``lethe ledger prove`` and refuses changed ones; its OpenSSL commands check a real checkpoint's signature.

The code is taken from the document itself, so the document cannot drift from what runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.proofs import ACCOUNTS_RULE, PUBLIC_B64, Enforced, accounts_store, enforce_rules, write

DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"


def block(marker: str) -> str:
    """The fenced code block that follows ``<!-- marker -->`` in docs/evidence.md."""
    match = re.search(rf"<!-- {marker} -->\n```\w+\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/evidence.md has no code block after <!-- {marker} -->"
    return match.group(1)


@pytest.fixture
def proved(tmp_path: Path) -> tuple[Enforced, Path]:
    """A real proof: 12 accounts deleted in batches of 5 on SQLite, key 7 proved with a checkpoint."""
    db_url = f"sqlite:///{tmp_path}/store.db"
    engine = sa.create_engine(db_url)
    accounts_store(engine, old=12, recent=1)
    engine.dispose()
    enforced = enforce_rules(db_url, tmp_path, ACCOUNTS_RULE, "accounts")
    assert enforced.run("checkpoint", "--out", str(tmp_path / "checkpoint.json")).exit_code == 0
    made = enforced.run(
        "prove", "--policy", str(enforced.policy_path), "--store", "db", "--table", "accounts", "--key", "7",
        "--checkpoint", str(tmp_path / "checkpoint.json"), "--out", str(tmp_path / "proof.json"),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    return enforced, tmp_path / "proof.json"


def run_snippet(tmp_path: Path, proof: Path) -> subprocess.CompletedProcess[str]:
    """Run the document's check, as a reader who saved it as check_proof.py would, with an empty environment."""
    script = write(tmp_path / "check_proof.py", block("offline-check"))
    return subprocess.run(
        [sys.executable, "-I", str(script), str(proof)], capture_output=True, text=True, cwd=tmp_path, env={}
    )


def test_snippet_is_twenty_lines_of_standard_library() -> None:
    """At most 20 lines, importing hashlib, json and sys only."""
    code = block("offline-check")
    assert len(code.splitlines()) <= 20
    imports = {
        name.strip()
        for line in code.splitlines()
        if line.startswith("import ")
        for name in line[7:].split(",")
    }
    assert imports == {"hashlib", "json", "sys"} and "from " not in code


def test_snippet_verifies_a_real_proof(proved: tuple[Enforced, Path], tmp_path: Path) -> None:
    """The proof of a deleted key checks, and leads to the root the checkpoint signed."""
    _, proof = proved
    result = run_snippet(tmp_path, proof)
    assert result.returncode == 0, result.stderr
    checkpoint = json.loads((tmp_path / "checkpoint.json").read_text())
    assert (
        result.stdout.strip()
        == f"proof OK: ledger root {checkpoint['tree_root']} of {checkpoint['size']} entries"
    )


@pytest.mark.parametrize(
    "part", ["leaf", "path", "entry root", "entry body bytes", "ledger path", "ledger size"]
)
def test_snippet_refuses_a_changed_proof(proved: tuple[Enforced, Path], tmp_path: Path, part: str) -> None:
    """Each changed part makes the check exit non-zero with "proof FAILED"."""
    _, proof = proved
    doc = json.loads(proof.read_text())
    body = json.loads(doc["entry"]["body"])
    if part == "leaf":
        doc["leaf"] = ("0" if doc["leaf"][0] != "0" else "1") + doc["leaf"][1:]
    elif part == "path":
        doc["path"] = doc["path"][::-1] if len(doc["path"]) > 1 else ["00" * 32]
    elif part == "entry root":
        body["details"]["root"] = "00" * 32
        doc["entry"]["body"] = json.dumps(body)
    elif part == "entry body bytes":
        doc["entry"]["body"] = json.dumps(body, indent=1)
    elif part == "ledger path":
        doc["ledger"]["path"] = doc["ledger"]["path"][1:]
    else:
        doc["ledger"]["size"] += 1
    changed = write(tmp_path / "changed.json", json.dumps(doc))
    result = run_snippet(tmp_path, changed)
    assert result.returncode != 0 and "proof FAILED" in result.stderr


@pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("bash") is None, reason="needs openssl 3, bash"
)
def test_openssl_checks_the_checkpoint_signature(proved: tuple[Enforced, Path], tmp_path: Path) -> None:
    """The document's OpenSSL commands accept the real checkpoint and refuse one whose size was changed."""
    commands = block("checkpoint-signature")

    def openssl_check(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-c", commands], capture_output=True, text=True, cwd=folder,
            env={"PUB": PUBLIC_B64, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )  # fmt: skip

    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(tmp_path / "checkpoint.json", good / "checkpoint.json")
    result = openssl_check(good)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout, result.stderr
    forged = tmp_path / "forged"
    forged.mkdir()
    document = json.loads((tmp_path / "checkpoint.json").read_text())
    document["size"] -= 1
    write(forged / "checkpoint.json", json.dumps(document))
    assert openssl_check(forged).returncode != 0
