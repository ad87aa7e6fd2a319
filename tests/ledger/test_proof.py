"""Inclusion proofs: a proof checks with nothing but itself and a checkpoint; any changed part is caught."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from support.ledger import make_entry
from support.proofs import OTHER_SIGNING_KEY, SIGNING_KEY, batch_entry, proof_of, some_leaves

from lethe.errors import LedgerTamperedError, ParameterError
from lethe.ledger.chain import Ledger
from lethe.ledger.checkpoint import make_checkpoint
from lethe.ledger.history import read_tree
from lethe.ledger.proof import Proof, assemble_proof, check_proof, parse_proof

TRUSTED = SIGNING_KEY.public_key()
LEAVES = some_leaves(11)


@pytest.fixture
def batches(ledger: Ledger) -> Ledger:
    """The five-entry ledger, then two batch entries (6: eleven leaves, 7: three), then one more entry."""
    ledger.append_many([batch_entry(6, LEAVES), batch_entry(7, some_leaves(3, "x"))])
    ledger.append(make_entry(8))
    return ledger


def test_proof_checks_offline_at_every_index(batches: Ledger) -> None:
    """Every leaf of a batch has a proof that checks, and its checkpoint anchors it."""
    signed = make_checkpoint(batches, SIGNING_KEY)
    for index in range(len(LEAVES)):
        proof = proof_of(batches, 6, LEAVES, index)
        held = check_proof(parse_proof(proof.to_json()), signed, TRUSTED)
        assert len(held) == 4 and "ledger entry 6 records that root (journal shop:6:" in held[1]
    proof = proof_of(batches, 7, some_leaves(3, "x"), 2)
    assert proof.ledger_size == 8 and check_proof(proof, signed, TRUSTED)


def test_proof_document(batches: Ledger) -> None:
    """The document carries the leaf, the paths, the entry's stored body and when and by which rule."""
    proof = proof_of(batches, 6, LEAVES, 4)
    doc = json.loads(proof.to_json())
    assert doc["format"] == "lethe-proof/1" and doc["leaf"] == LEAVES[4].hex()
    assert (doc["index"], doc["size"], doc["rule"], doc["entry"]["seq"]) == (4, 11, "orders-7y", 6)
    assert doc["entry"]["body"] == next(iter(batches.rows(5, 6))).body
    assert doc["recorded_at"] == json.loads(doc["entry"]["body"])["recorded_at"]
    assert parse_proof(proof.to_json()) == proof


def _changed(proof: Proof, part: str) -> Proof:
    """``proof`` with one part changed as a forger (or a damaged copy) would."""
    flip = bytes([proof.leaf[0] ^ 1]) + proof.leaf[1:]
    body = json.loads(proof.body)
    if part == "leaf":
        return replace(proof, leaf=flip)
    if part == "index":
        return replace(proof, index=proof.index ^ 1)
    if part == "path":
        return replace(proof, path=(proof.path[0][::-1], *proof.path[1:]))
    if part == "root":
        return replace(proof, root=bytes(32))
    if part == "entry root":
        body["details"]["root"] = "00" * 32
        return replace(proof, body=json.dumps(body))
    if part == "entry count":
        body["details"]["leaf_count"] += 1
        return replace(proof, body=json.dumps(body))
    if part == "key id":
        return replace(proof, key_id="k2")
    if part == "body bytes":
        return replace(proof, body=json.dumps(body, indent=1))
    if part == "ledger path":
        return replace(proof, ledger_path=proof.ledger_path[1:])
    if part == "ledger root":
        return replace(proof, ledger_root=bytes(32))
    if part == "rule":
        return replace(proof, rule="other-rule")
    raise AssertionError(part)


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ("leaf", "audit path does not lead"),
        ("index", "audit path does not lead"),
        ("path", "audit path does not lead"),
        ("root", "audit path does not lead"),
        ("entry root", "records another root"),
        ("entry count", "records 12 leaves, the proof a tree of 11"),
        ("key id", "another master key id"),
        ("rule", "another rule or time"),
        ("body bytes", "not under the ledger root"),
        ("ledger path", "not under the ledger root"),
        ("ledger root", "not under the ledger root"),
    ],
)
def test_changed_proof_is_refused(batches: Ledger, part: str, words: str) -> None:
    """A changed leaf, index, path, root, entry or ledger path does not check."""
    proof = _changed(proof_of(batches, 6, LEAVES, 5), part)
    with pytest.raises(LedgerTamperedError, match=words):
        check_proof(proof)


def test_changed_leaf_with_its_own_path_is_refused(batches: Ledger) -> None:
    """A forger who builds a consistent batch tree around another leaf still needs the entry to name its root."""
    forged_leaves = sorted([*LEAVES[:-1], b"\xff" * 16])
    honest = proof_of(batches, 6, LEAVES, 0)
    tree = read_tree(batches, 8)
    with pytest.raises(LedgerTamperedError, match="do not give the root that ledger entry 6 records"):
        assemble_proof(store="shop", table="customers", key_id="k1", leaves=forged_leaves, index=10, seq=6,
                       body=honest.body, mac=honest.mac, tree=tree)  # fmt: skip


def test_checkpoint_must_sign_the_proofs_root(batches: Ledger) -> None:
    """A proof is anchored in one ledger size: another checkpoint, a forged one or none are told apart."""
    early = make_checkpoint(batches, SIGNING_KEY)  # 8 entries
    batches.append(make_entry(9))
    late = make_checkpoint(batches, SIGNING_KEY)
    proof = proof_of(batches, 6, LEAVES, 3, size=8)
    assert check_proof(proof, early, TRUSTED)
    with pytest.raises(
        LedgerTamperedError, match="anchored in the ledger at 8 entries, the checkpoint signed 9"
    ):
        check_proof(proof, late, TRUSTED)
    assert check_proof(proof_of(batches, 6, LEAVES, 3), late, TRUSTED)
    with pytest.raises(LedgerTamperedError, match="signature is invalid"):
        check_proof(proof, replace(early, tree_root=proof.ledger_root.hex(), size=7), TRUSTED)
    with pytest.raises(LedgerTamperedError, match="not the trusted key"):
        check_proof(proof, make_checkpoint(batches, OTHER_SIGNING_KEY), TRUSTED)
    with pytest.raises(ParameterError, match="trusted public key"):
        check_proof(proof, early, None)


def test_not_a_batch_entry(ledger: Ledger) -> None:
    """A proof that points at an entry without a Merkle root does not check."""
    honest_body = next(iter(ledger.rows(1, 2))).body
    with pytest.raises(LedgerTamperedError, match="do not give the root"):
        assemble_proof(store="shop", table="customers", key_id="k1", leaves=LEAVES, index=0, seq=2,
                       body=honest_body, mac="00", tree=read_tree(ledger, 5))  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.update(format="x"), "format"),
        (lambda d: d.pop("leaf"), "'leaf'"),
        (lambda d: d.update(leaf="ABCD"), "leaf must be lower-case hex"),
        (lambda d: d.update(path=["0g"]), "path must be lower-case hex"),
        (lambda d: d.update(index="1"), "'index'"),
        (lambda d: d["entry"].pop("body"), "'entry.body'"),
        (lambda d: d.update(ledger=[]), "'ledger' must be objects"),
    ],
)
def test_malformed_proof_is_refused(batches: Ledger, tmp_path: Path, edit: object, words: str) -> None:
    """A document that is not a proof is a parameter error naming the field."""
    doc = json.loads(proof_of(batches, 6, LEAVES, 0).to_json())
    edit(doc)  # type: ignore[operator]
    with pytest.raises(ParameterError, match=words):
        parse_proof(json.dumps(doc))
    with pytest.raises(ParameterError, match="not JSON"):
        parse_proof("{")
