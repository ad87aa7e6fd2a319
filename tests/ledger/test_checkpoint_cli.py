"""``lethe ledger checkpoint``, ``verify --expect-checkpoint`` and ``check-proof``: keys, files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from support.ledger import sql
from support.proofs import (
    PUBLIC_B64,
    SEED_B64,
    SIGNING_KEY,
    batch_entry,
    proof_of,
    run_ledger,
    some_leaves,
    write,
)

from lethe.ledger.chain import Ledger


def test_new_key_then_checkpoint_then_verify(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """--new-key prints settings; a checkpoint made with them verifies under the public one."""
    made = run_ledger(url, "checkpoint", "--new-key")
    assert made.exit_code == 0
    settings = dict(line.split("=", 1) for line in made.stdout.splitlines())
    assert set(settings) == {"LETHE_CHECKPOINT_KEY", "LETHE_CHECKPOINT_PUBLIC_KEY"}
    out = tmp_path / "cp.json"
    signed = run_ledger(
        url, "checkpoint", "--out", str(out), LETHE_CHECKPOINT_KEY=settings["LETHE_CHECKPOINT_KEY"]
    )
    assert signed.exit_code == 0 and signed.stdout.startswith("checkpoint: 5 entries, root ")
    document = json.loads(out.read_text())
    assert document["size"] == 5 and document["public_key"] == settings["LETHE_CHECKPOINT_PUBLIC_KEY"]
    public = settings["LETHE_CHECKPOINT_PUBLIC_KEY"]
    ok = run_ledger(url, "verify", "--expect-checkpoint", str(out), LETHE_CHECKPOINT_PUBLIC_KEY=public)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.splitlines()[1].startswith("checkpoint OK: 5 entries signed at ")
    assert "note:" not in ok.stderr
    moved = tmp_path / "moved.db"
    moved.write_bytes((tmp_path / "ledger.db").read_bytes())
    elsewhere = run_ledger(
        f"sqlite:///{moved}", "verify", "--expect-checkpoint", str(out), LETHE_CHECKPOINT_PUBLIC_KEY=public
    )
    assert elsewhere.exit_code == 0 and "note: the checkpoint was made for sqlite:///" in elsewhere.stderr
    # The trusted key given as an option, or as a PEM file, instead of the setting.
    assert run_ledger(url, "verify", "--expect-checkpoint", str(out), "--public-key", public).exit_code == 0
    # Another key, trusted by mistake, refuses the checkpoint.
    refused = run_ledger(url, "verify", "--expect-checkpoint", str(out), "--public-key", PUBLIC_B64)
    assert refused.exit_code == 4 and "not the trusted key" in refused.stderr


def test_wiped_ledger_fails_against_the_checkpoint(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """After a wipe, plain verify passes and --expect-checkpoint exits 4."""
    out = tmp_path / "cp.json"
    assert run_ledger(url, "checkpoint", "--out", str(out), LETHE_CHECKPOINT_KEY=SEED_B64).exit_code == 0
    sql(url, "DELETE FROM lethe_ledger")
    sql(url, "DELETE FROM lethe_ledger_head")
    assert run_ledger(url, "verify").exit_code == 0
    pem = SIGNING_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem_file = tmp_path / "trusted.pem"
    pem_file.write_bytes(pem)
    wiped = run_ledger(url, "verify", "--expect-checkpoint", str(out), "--public-key", str(pem_file))
    assert wiped.exit_code == 4 and "expects entry 5 but the ledger ends at 0" in wiped.stderr
    as_json = run_ledger(
        url, "verify", "--expect-checkpoint", str(out), "--json", LETHE_CHECKPOINT_KEY=SEED_B64
    )
    assert as_json.exit_code == 4 and json.loads(as_json.stdout)["ok"] is False


def test_forged_checkpoint_file_is_refused(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """A checkpoint edited to claim fewer entries fails its signature: exit 4."""
    out = tmp_path / "cp.json"
    run_ledger(url, "checkpoint", "--out", str(out), LETHE_CHECKPOINT_KEY=SEED_B64)
    document = json.loads(out.read_text())
    document["size"] = 3
    forged = write(tmp_path / "forged.json", json.dumps(document))
    result = run_ledger(
        url, "verify", "--expect-checkpoint", str(forged), LETHE_CHECKPOINT_PUBLIC_KEY=PUBLIC_B64
    )
    assert result.exit_code == 4 and "signature is invalid" in result.stderr


def test_checkpoint_errors(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """Missing keys, options and files are clear errors (exit 2), never a traceback."""
    out = tmp_path / "cp.json"
    missing = run_ledger(url, "checkpoint", "--out", str(out))
    assert missing.exit_code == 2 and "LETHE_CHECKPOINT_KEY is not set" in missing.stderr and not out.exists()
    assert "give --out FILE" in run_ledger(url, "checkpoint", LETHE_CHECKPOINT_KEY=SEED_B64).stderr
    run_ledger(url, "checkpoint", "--out", str(out), LETHE_CHECKPOINT_KEY=SEED_B64)
    untrusted = run_ledger(url, "verify", "--expect-checkpoint", str(out))
    assert untrusted.exit_code == 2 and "no trusted checkpoint key" in untrusted.stderr
    both = run_ledger(url, "verify", "--expect-checkpoint", str(out), "--expect-head", "1:" + "0" * 64)
    assert both.exit_code == 2 and "not both" in both.stderr
    absent = run_ledger(
        url, "verify", "--expect-checkpoint", str(tmp_path / "none.json"), "--public-key", PUBLIC_B64
    )
    assert absent.exit_code == 2 and "cannot read the checkpoint" in absent.stderr
    for command in (["checkpoint"], ["check-proof"], ["prove"]):
        assert run_ledger(url, *command, "--help").exit_code == 0


def test_check_proof_command(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """check-proof: exit 0 with what held; 4 for a changed proof; 2 for a file that is not a proof."""
    leaves = some_leaves(6)
    ledger.append(batch_entry(6, leaves))
    cp = tmp_path / "cp.json"
    run_ledger(url, "checkpoint", "--out", str(cp), LETHE_CHECKPOINT_KEY=SEED_B64)
    proof = proof_of(ledger, 6, leaves, 2)
    good = write(tmp_path / "proof.json", proof.to_json())
    # No database, no ledger key, no master key: only the files and the trusted public key.
    offline = {"LETHE_LEDGER_URL": None, "LETHE_LEDGER_KEY": None, "LETHE_CHECKPOINT_PUBLIC_KEY": PUBLIC_B64}
    ok = run_ledger(url, "check-proof", str(good), "--checkpoint", str(cp), **offline)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == f"proof OK: shop.customers leaf {leaves[2].hex()} in ledger entry 6"
    alone = run_ledger(url, "check-proof", str(good), **offline)
    assert alone.exit_code == 0 and "note: no checkpoint given" in alone.stdout
    document = json.loads(proof.to_json())
    document["index"] = 3
    bad = run_ledger(url, "check-proof", str(write(tmp_path / "bad.json", json.dumps(document))), **offline)
    assert bad.exit_code == 4 and "audit path does not lead" in bad.stderr
    junk = run_ledger(url, "check-proof", str(write(tmp_path / "junk.json", "[]")), **offline)
    assert junk.exit_code == 2 and "not a JSON object" in junk.stderr
