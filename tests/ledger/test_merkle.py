"""RFC 9162 Merkle hashing: known answers, the recursive definition, audit paths that verify and ones that don't."""

from __future__ import annotations

from hashlib import sha256

import pytest

from lethe.ledger import merkle

# The test vectors of Certificate Transparency's reference implementation (RFC 6962 hashing, unchanged in 9162):
# eight leaves, and the root of the first n of them for n = 1..8.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _mth(leaves: list[bytes]) -> bytes:
    """The RFC's recursive definition, written out literally as the oracle."""
    n = len(leaves)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """The RFC's recursive PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _leaves(n: int) -> list[bytes]:
    return [sha256(i.to_bytes(4, "big")).digest()[:16] for i in range(n)]


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert merkle.root([]) == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_match_certificate_transparency_vectors(n: int) -> None:
    assert merkle.root(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize("n", [*range(1, 34), 100, 257])
def test_root_and_paths_follow_the_recursive_definition(n: int) -> None:
    leaves = _leaves(n)
    assert merkle.root(leaves) == _mth(leaves)
    for m in range(n):
        path = merkle.audit_path(leaves, m)
        assert path == _path(m, leaves)
        assert merkle.root_from_path(leaves[m], m, n, path) == merkle.root(leaves)


def test_a_changed_leaf_index_size_or_path_does_not_verify() -> None:
    leaves = _leaves(13)
    good = merkle.root(leaves)
    path = merkle.audit_path(leaves, 5)
    assert merkle.root_from_path(leaves[5], 5, 13, path) == good
    assert merkle.root_from_path(leaves[6], 5, 13, path) != good  # another leaf
    assert merkle.root_from_path(leaves[5], 4, 13, path) != good  # another position
    assert (
        merkle.root_from_path(leaves[5], 5, 6, path) != good
    )  # another size, where the path turns differently
    assert merkle.root_from_path(leaves[5], 5, 13, path[:-1]) != good  # a path cut short
    assert merkle.root_from_path(leaves[5], 5, 13, [*path, path[0]]) is None  # too long
    tampered = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
    assert merkle.root_from_path(leaves[5], 5, 13, tampered) != good
    assert merkle.root_from_path(leaves[5], 13, 13, path) is None  # index outside the tree


def test_order_matters() -> None:
    leaves = _leaves(6)
    assert merkle.root(leaves) != merkle.root(list(reversed(leaves)))


def test_a_leaf_cannot_pass_for_a_node() -> None:
    leaves = _leaves(2)
    node = merkle.node_hash(merkle.leaf_hash(leaves[0]), merkle.leaf_hash(leaves[1]))
    # A second-preimage attempt: the concatenated child hashes offered as a single leaf give another root.
    assert merkle.root([merkle.leaf_hash(leaves[0]) + merkle.leaf_hash(leaves[1])]) != node


def test_audit_path_refuses_an_index_outside_the_tree() -> None:
    with pytest.raises(ValueError):
        merkle.audit_path(_leaves(3), 3)
