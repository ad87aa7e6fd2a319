"""Hostile policy files: alias bombs and deep nesting fail with a clear policy error, fast and in little memory."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lethe.policy.loading
from lethe.cli.main import main
from lethe.errors import PolicyError
from lethe.policy.loading import MAX_ALIASED_NODES, MAX_DEPTH, parse_policy

ROOT = Path(__file__).resolve().parents[2]


def _billion_laughs(levels: int = 9, width: int = 10) -> str:
    """The classic alias bomb: each level is a list of ``width`` aliases to the level below (~7 KB at 9x10)."""
    lines = ["version: 1", "a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _deep(levels: int, flow: str) -> str:
    """A value nested ``levels`` deep: flow lists (``[[[...]]]``) or flow mappings (``{a: {a: ...}}``)."""
    if flow == "list":
        return "version: 1\nx: " + "[" * levels + "]" * levels + "\n"
    return "version: 1\nx: " + "{a: " * levels + "1" + "}" * levels + "\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each case with PyYAML's C parser (when installed) and with its pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(lethe.policy.loading, "_FAST", lethe.policy.loading._PURE)
    elif lethe.policy.loading._FAST is lethe.policy.loading._PURE:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_budget(parser: str) -> None:
    text = _billion_laughs()
    assert len(text) < 8_000
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="bomb.yaml", environ={})
    message = str(caught.value)
    # Level 5 is the first whose expansion passes the budget (10^5 nodes).
    assert message.startswith("bomb.yaml:6: "), message
    assert "aliases" in message and f"{MAX_ALIASED_NODES:,}" in message


@pytest.mark.parametrize("flow", ["list", "mapping"])
def test_deep_nesting_is_refused_with_the_line(parser: str, flow: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_deep(1_000, flow), source="deep.yaml", environ={})
    message = str(caught.value)
    assert message.startswith("deep.yaml:2: "), message
    assert f"nested more than {MAX_DEPTH} levels deep" in message


def test_nesting_through_chained_aliases_counts_in_full(parser: str) -> None:
    # Each anchor is 10 levels deep and holds the previous one: small in nodes, 400 levels once expanded.
    lines = ["version: 1", "a0: &a0 " + "[" * 10 + "]" * 10]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} " + "[" * 10 + f"*a{i - 1}" + "]" * 10)
    with pytest.raises(PolicyError) as caught:
        parse_policy("\n".join(lines) + "\n", source="chain.yaml", environ={})
    assert str(caught.value).startswith("chain.yaml:5: "), str(caught.value)
    assert "nested more than" in str(caught.value)


def test_nesting_within_the_limit_reaches_validation(parser: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_deep(MAX_DEPTH - 1, "list"), source="deep.yaml", environ={})
    assert "nested more than" not in str(caught.value)
    assert "deep.yaml:2: x: unknown key" in str(caught.value)


SHARED_COLUMNS = """\
version: 1
controller: {name: Example Shop Ltd, dpo: {name: DPO, email: dpo@example.com}}
stores: {shop: {url: "sqlite:///shop.db", region: eu-west-1}}
subjects: {customer: {store: shop, table: customers, key: id, lookup: [email]}}
data_map:
  shop.customers:
    subject: customer
    columns: &contact
      email: {category: user.contact.email}
      phone: {category: user.contact.phone_number}
  shop.leads:
    subject: customer
    columns: *contact
"""


def test_aliases_within_the_budget_still_load(parser: str) -> None:
    policy = parse_policy(SHARED_COLUMNS, source="shared.yaml", environ={})
    columns = {str(ref): set(table.columns) for ref, table in policy.data_map.items()}
    assert columns == {"shop.customers": {"email", "phone"}, "shop.leads": {"email", "phone"}}


def _limit_memory() -> None:
    """Cap the child's address space, so a regression fails with MemoryError instead of swapping the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


@pytest.mark.parametrize("case", ["bomb", "deep"])
def test_cli_refuses_hostile_yaml_with_exit_2_and_no_traceback(tmp_path: Path, case: str) -> None:
    policy = tmp_path / f"{case}.yaml"
    policy.write_text(_billion_laughs() if case == "bomb" else _deep(1_000, "list"))
    result = subprocess.run(
        [sys.executable, "-m", "lethe", "validate", str(policy)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_limit_memory,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(policy) in result.stderr


def test_cli_runner_exit_code_for_an_alias_bomb(tmp_path: Path) -> None:
    policy = tmp_path / "bomb.yaml"
    policy.write_text(_billion_laughs())
    result = CliRunner().invoke(main, ["validate", str(policy)])
    assert result.exit_code == 2
    assert "aliases" in result.output
