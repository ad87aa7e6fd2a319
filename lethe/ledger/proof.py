"""Inclusion proofs: one key's leaf, its path to its batch's root, and that root's entry in the ledger's tree.

A proof answers "was this key of this table handled, when, by which rule" to someone who has neither the data,
nor the journal, nor any key: three RFC 9162 audit paths' worth of hashing (``docs/evidence.md`` shows the
whole check in 20 lines of Python that need only ``hashlib`` and ``json``). The document (``FORMAT``)::

    {"format": "lethe-proof/1", "store": S, "table": T, "key_id": "<master key id>",
     "leaf": "<hex>", "index": i, "size": n, "path": ["<hex>", ...], "root": "<hex>",
     "journal": "<store:id:uid>", "rule": R, "recorded_at": "<UTC ISO 8601>",
     "entry": {"seq": s, "body": "<the entry's stored body, exactly>", "mac": "<hex>"},
     "ledger": {"size": N, "root": "<hex>", "path": ["<hex>", ...]}}

What ``check_proof`` checks, in order:

1. the batch: ``root_from_path(leaf, index, size, path) == root`` (``lethe.ledger.merkle``);
2. the entry: its body names this root, this many leaves, this journal row, key id, rule and time;
3. the ledger: the entry's leaf ``seq || SHA-256(body)`` (``lethe.ledger.history``) has the audit path
   ``ledger.path`` to ``ledger.root`` in a tree of ``ledger.size`` entries;
4. with a checkpoint: its signature under the trusted key, and that it signed that size and root.

Without step 4 a proof is only consistent with itself: the checkpoint, signed out of the ledger's reach, is
what makes the ledger root evidence. The leaf is a keyed hash (``lethe.ledger.leaves``): the proof reveals
nothing of the key, and only the holder of the master key can say which key a leaf is, and of which table
(the leaf key is derived per ``store.table``); the table a rule changes is in the policy, whose hash the
entry records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lethe.errors import LedgerTamperedError, ParameterError
from lethe.ledger import merkle
from lethe.ledger.checkpoint import Checkpoint, check_signature
from lethe.ledger.history import LedgerTree, entry_leaf

FORMAT = "lethe-proof/1"
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


@dataclass(frozen=True)
class BatchFacts:
    """What a batch's ledger entry says about its leaves: their root and count, its journal row, the key id."""

    root: str
    leaf_count: int
    journal: str
    key_id: str
    rule: str | None
    recorded_at: str


def batch_facts(body: Mapping[str, Any]) -> BatchFacts | None:
    """The batch facts in a ledger entry's body, or None for an entry that is not a batch with leaves."""
    details = body.get("details")
    if not isinstance(details, Mapping):
        return None
    root, count, journal, key_id = (details.get(k) for k in ("root", "leaf_count", "journal", "key_id"))
    if not (isinstance(root, str) and type(count) is int and isinstance(journal, str)):
        return None
    rule = body.get("rule")
    return BatchFacts(
        root=root,
        leaf_count=count,
        journal=journal,
        key_id=key_id if isinstance(key_id, str) else "",
        rule=rule if isinstance(rule, str) else None,
        recorded_at=str(body.get("recorded_at", "")),
    )


@dataclass(frozen=True)
class Proof:
    """One key's inclusion proof (see the module docstring for the document)."""

    store: str
    table: str
    key_id: str
    leaf: bytes
    index: int
    size: int
    path: tuple[bytes, ...]
    root: bytes
    journal: str
    rule: str | None
    recorded_at: str
    seq: int
    body: str
    mac: str
    ledger_size: int
    ledger_root: bytes
    ledger_path: tuple[bytes, ...]

    def to_document(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "format": FORMAT,
            "store": self.store,
            "table": self.table,
            "key_id": self.key_id,
            "leaf": self.leaf.hex(),
            "index": self.index,
            "size": self.size,
            "path": [h.hex() for h in self.path],
            "root": self.root.hex(),
            "journal": self.journal,
            "rule": self.rule,
            "recorded_at": self.recorded_at,
            "entry": {"seq": self.seq, "body": self.body, "mac": self.mac},
            "ledger": {
                "size": self.ledger_size,
                "root": self.ledger_root.hex(),
                "path": [h.hex() for h in self.ledger_path],
            },
        }

    def to_json(self) -> str:
        """The document, indented, with a final newline."""
        return json.dumps(self.to_document(), indent=2, ensure_ascii=False) + "\n"


def assemble_proof(
    *,
    store: str,
    table: str,
    key_id: str,
    leaves: Sequence[bytes],
    index: int,
    seq: int,
    body: str,
    mac: str,
    tree: LedgerTree,
) -> Proof:
    """The proof of ``leaves[index]``, whose batch is ledger entry ``seq`` (stored ``body``) in ``tree``.

    Refuses (LedgerTamperedError) to assemble a proof that would not check: the batch's root must be the one
    the entry names, so a journal blob that no longer matches its ledger entry never yields a proof.
    """
    root = merkle.root(leaves)
    facts = batch_facts(_json_object(body, "the ledger entry's body"))
    if facts is None or facts.root != root.hex() or facts.leaf_count != len(leaves):
        raise LedgerTamperedError(
            f"the leaves of journal row {facts.journal if facts else '?'} do not give the root that ledger "
            f"entry {seq} records: the journal or the entry was changed"
        )
    return Proof(
        store=store,
        table=table,
        key_id=key_id,
        leaf=leaves[index],
        index=index,
        size=len(leaves),
        path=tuple(merkle.audit_path(leaves, index)),
        root=root,
        journal=facts.journal,
        rule=facts.rule,
        recorded_at=facts.recorded_at,
        seq=seq,
        body=body,
        mac=mac,
        ledger_size=tree.size,
        ledger_root=tree.root(),
        ledger_path=tuple(tree.path(seq)),
    )


def parse_proof(text: str) -> Proof:
    """Read a proof document; ParameterError naming the first field that is missing or malformed."""
    doc = _json_object(text, "the proof")
    if doc.get("format") != FORMAT:
        raise ParameterError(f"not a Lethe proof: its format is not {FORMAT!r}")
    entry = doc.get("entry")
    ledger = doc.get("ledger")
    if not isinstance(entry, dict) or not isinstance(ledger, dict):
        raise ParameterError("not a Lethe proof: 'entry' and 'ledger' must be objects")

    def field(source: Mapping[str, Any], name: str, kind: type, where: str = "") -> Any:
        value = source.get(name)
        if type(value) is not kind and not (kind is str and value is None and name == "rule"):
            raise ParameterError(f"not a Lethe proof: field {where + name!r} is missing or malformed")
        return value

    def hex_list(source: Mapping[str, Any], name: str, where: str = "") -> tuple[bytes, ...]:
        return tuple(_hex(item, f"{where}{name}") for item in field(source, name, list, where))

    return Proof(
        store=field(doc, "store", str),
        table=field(doc, "table", str),
        key_id=field(doc, "key_id", str),
        leaf=_hex(field(doc, "leaf", str), "leaf"),
        index=field(doc, "index", int),
        size=field(doc, "size", int),
        path=hex_list(doc, "path"),
        root=_hex(field(doc, "root", str), "root"),
        journal=field(doc, "journal", str),
        rule=field(doc, "rule", str),
        recorded_at=field(doc, "recorded_at", str),
        seq=field(entry, "seq", int, "entry."),
        body=field(entry, "body", str, "entry."),
        mac=field(entry, "mac", str, "entry."),
        ledger_size=field(ledger, "size", int, "ledger."),
        ledger_root=_hex(field(ledger, "root", str, "ledger."), "ledger.root"),
        ledger_path=hex_list(ledger, "path", "ledger."),
    )


def check_proof(
    proof: Proof, checkpoint: Checkpoint | None = None, trusted: Ed25519PublicKey | None = None
) -> list[str]:
    """Check a proof (steps in the module docstring); the list of what held, or LedgerTamperedError."""
    held: list[str] = []
    if merkle.root_from_path(proof.leaf, proof.index, proof.size, proof.path) != proof.root:
        raise LedgerTamperedError(
            f"the audit path does not lead from leaf {proof.index} to the batch root in a tree of {proof.size}"
        )
    held.append(f"leaf {proof.index} of {proof.size} is under the batch root {proof.root.hex()[:16]}...")
    facts = batch_facts(_json_object(proof.body, "the ledger entry's body", LedgerTamperedError))
    problem = _facts_problem(proof, facts)
    if problem:
        raise LedgerTamperedError(f"ledger entry {proof.seq} {problem}")
    held.append(f"ledger entry {proof.seq} records that root (journal {proof.journal}, rule {proof.rule})")
    leaf = entry_leaf(proof.seq, proof.body.encode("utf-8"))
    found = merkle.root_from_path(leaf, proof.seq - 1, proof.ledger_size, proof.ledger_path)
    if found != proof.ledger_root:
        raise LedgerTamperedError(
            f"ledger entry {proof.seq} is not under the ledger root of {proof.ledger_size} entries"
        )
    held.append(
        f"entry {proof.seq} is in the ledger of {proof.ledger_size} entries, root {proof.ledger_root.hex()}"
    )
    if checkpoint is not None:
        if trusted is None:
            raise ParameterError("a checkpoint is checked against a trusted public key; none was given")
        check_signature(checkpoint, trusted)
        if (checkpoint.size, checkpoint.tree_root) != (proof.ledger_size, proof.ledger_root.hex()):
            raise LedgerTamperedError(
                f"the proof is anchored in the ledger at {proof.ledger_size} entries, the checkpoint signed "
                f"{checkpoint.size} entries with another root: prove again with this checkpoint (--checkpoint)"
                if checkpoint.size != proof.ledger_size
                else f"the checkpoint signed another root for {checkpoint.size} entries: the ledger was changed"
            )
        held.append(f"the checkpoint of {checkpoint.time} signed that root ({checkpoint.key_id})")
    return held


def _facts_problem(proof: Proof, facts: BatchFacts | None) -> str | None:
    """What the entry's body contradicts in the proof, or None."""
    if facts is None:
        return "is not a batch entry with a Merkle root"
    if facts.root != proof.root.hex():
        return "records another root than the proof's"
    if facts.leaf_count != proof.size:
        return f"records {facts.leaf_count} leaves, the proof a tree of {proof.size}"
    if facts.journal != proof.journal:
        return "names another journal row than the proof's"
    if facts.key_id != proof.key_id:
        return "names another master key id than the proof's"
    if (facts.rule, facts.recorded_at) != (proof.rule, proof.recorded_at):
        return "names another rule or time than the proof's"
    return None


def _json_object(text: str, what: str, error: type[Exception] = ParameterError) -> dict[str, Any]:
    """``text`` parsed as a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        raise error(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object")
    return value


def _hex(value: object, name: str) -> bytes:
    """Bytes from lower-case hex."""
    if not isinstance(value, str) or _HEX.fullmatch(value) is None:
        raise ParameterError(f"not a Lethe proof: {name} must be lower-case hex")
    return bytes.fromhex(value)
