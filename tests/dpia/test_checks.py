"""The DPIA checks on SQLite, PostgreSQL and MariaDB: each fails on data built to break it, passes once fixed.

One small shop per engine: customers (a retention rule anonymises them, marked by ``anonymised_at``),
newsletter consents and sends, a restriction register, a table of leads. The broken variant plants exactly
one violation per check; the compliant variant repairs each one (retention by running ``enforce_rule``)
and fixes the policy where the finding is the policy's (region, undeclared column, a broken expectation).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.dpia.checks import CheckRun, run_checks
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.restriction import restrict
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
OLD, RECENT = datetime(2020, 1, 1), datetime(2026, 6, 1)
PLAINTEXT = "left-behind-7c1d@example.org"  # an email a handled row still holds: the leak to detect
BROKEN = {
    "retention:customers-3y": {"violations": 1},
    "pseudonymisation:customers-3y": {"violations": 1, "column:email": 1, "column:full_name": 0},
    "consent:newsletter": {"violations": 1, "after_withdrawal": 1},
    "restriction:newsletter": {"violations": 1},
    "k_anonymity:db.customers": {"violations": 1, "measured_k": 1, "classes": 4, "rows_in_small_classes": 1},
    "l_diversity:db.customers": {"violations": 2, "measured_l": 1, "classes": 4},
    "expectation:1:ExpectColumnValuesToNotBeNull": {"element_count": 8, "unexpected_count": 1},
    "coverage:undeclared": {"violations": 1},
    "localisation:regions": {"violations": 1, "stores_outside": 1, "rows_outside": 13},
}


def policy_text(*, region: str, declare_leads: bool, broken_expectation: bool) -> str:
    """The test policy; the broken variant names a column that does not exist in an expectation."""
    leads = "  db.leads:\n    columns:\n      contact_email: {category: user.contact.email}\n"
    missing = "    - {table: db.customers, expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: no_such_column}}\n"
    text = textwrap.dedent(
        f"""\
        version: 1
        controller: {{name: Test Ltd, dpo: {{name: Test DPO}}}}
        stores:
          db: {{url: "${{DB_URL}}", region: {region}, timezone: UTC}}
        subjects:
          customer: {{store: db, table: customers, key: id, lookup: [email]}}
        data_map:
          db.customers:
            subject: customer
            columns:
              full_name: {{category: user.name}}
              postcode: {{category: user.contact.address.postal_code, quasi_identifier: true}}
              birth_year: {{category: user.demographic.age, quasi_identifier: true}}
              diagnosis: {{category: user.health, sensitive: true}}
              country: {{category: user.contact.address.country}}
          db.sends:
            subject: customer
            columns:
              campaign: {{category: user.behavior}}
        __LEADS__
        retention:
          - name: customers-3y
            table: db.customers
            after: 3 years
            since: created_at
            action: anonymise
            mark: anonymised_at
            columns:
              email: {{operator: redact, value: erased}}
              full_name: {{operator: "null"}}
        activities:
          - name: newsletter
            purpose: send marketing emails
            lawful_basis: consent
            subjects: [customer]
            categories: [user.contact.email]
            consent:
              table: db.consents
              subject_column: customer_id
              granted: granted_at
              withdrawn: withdrawn_at
              purpose_column: purpose
              purpose: newsletter
            processing: {{table: db.sends, subject_column: customer_id, at: sent_at}}
        checks:
          allowed_regions: [eu-west-1]
          k_anonymity:
            - {{table: db.customers, quasi_identifiers: [birth_year, postcode], k: 2, sensitive: diagnosis, l: 2}}
          expectations:
            - {{table: db.customers, expectation: ExpectColumnValuesToNotBeNull, kwargs: {{column: country}}}}
        __MISSING__"""
    )
    return text.replace("__LEADS__\n", leads if declare_leads else "").replace(
        "__MISSING__", missing if broken_expectation else ""
    )


def make_policy(db_url: str, **variant: object) -> Policy:
    """The policy on the test's database."""
    return parse_policy(policy_text(**variant), environ={"DB_URL": db_url})  # type: ignore[arg-type]


def build_shop(engine: Engine) -> None:
    """The broken shop: one violation of every check (see BROKEN)."""
    md = sa.MetaData()
    customers = sa.Table(
        "customers", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(254)), sa.Column("full_name", sa.String(200)),
        sa.Column("postcode", sa.String(16), nullable=False), sa.Column("birth_year", sa.Integer, nullable=False),
        sa.Column("diagnosis", sa.String(40), nullable=False), sa.Column("country", sa.String(2)),
        sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("anonymised_at", sa.DateTime),
    )  # fmt: skip
    consents = sa.Table(
        "consents", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(32), nullable=False), sa.Column("granted_at", sa.DateTime, nullable=False),
        sa.Column("withdrawn_at", sa.DateTime),
    )  # fmt: skip
    sends = sa.Table(
        "sends", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
        sa.Column("campaign", sa.String(64), nullable=False), sa.Column("sent_at", sa.DateTime, nullable=False),
    )  # fmt: skip
    leads = sa.Table(
        "leads", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
    )  # fmt: skip
    md.create_all(engine)

    def customer(cid: int, year: int, postcode: str, diagnosis: str, **extra: object) -> dict[str, object]:
        row: dict[str, object] = {
            "id": cid, "email": f"c{cid}@example.com", "full_name": f"Customer {cid}", "postcode": postcode,
            "birth_year": year, "diagnosis": diagnosis, "country": "IE", "created_at": RECENT,
            "anonymised_at": None,
        }  # fmt: skip
        return {**row, **extra}

    rows = [
        customer(1, 1980, "D01", "flu", created_at=OLD),  # expired, not anonymised: retention
        # expired and marked anonymised, but the email is still there: pseudonymisation
        customer(
            2, 1980, "D01", "asthma", created_at=OLD, anonymised_at=RECENT, email=PLAINTEXT, full_name=None
        ),
        customer(3, 1985, "D02", "flu", country=None),  # the named expectation: country is NULL
        customer(4, 1985, "D02", "asthma"),
        customer(5, 1990, "D03", "flu"),  # class (1990, D03) has one diagnosis only: l-diversity
        customer(6, 1990, "D03", "flu"),
        customer(7, 1999, "D09", "gout"),  # alone in its class: k-anonymity (and l = 1)
        customer(8, 1985, "D02", "gout"),
    ]
    with engine.begin() as connection:
        connection.execute(customers.insert(), rows)
        connection.execute(
            consents.insert(),
            [
                {"id": 1, "customer_id": 3, "purpose": "newsletter", "granted_at": datetime(2025, 1, 1),
                 "withdrawn_at": datetime(2025, 6, 1)},
                {"id": 2, "customer_id": 4, "purpose": "newsletter", "granted_at": datetime(2025, 1, 1),
                 "withdrawn_at": None},
                {"id": 3, "customer_id": 5, "purpose": "newsletter", "granted_at": datetime(2025, 1, 1),
                 "withdrawn_at": None},
            ],
        )  # fmt: skip
        connection.execute(
            sends.insert(),
            [
                {"id": 1, "customer_id": 4, "campaign": "spring", "sent_at": datetime(2025, 3, 1)},
                {"id": 2, "customer_id": 3, "campaign": "spring", "sent_at": datetime(2025, 2, 1)},
                {
                    "id": 3,
                    "customer_id": 3,
                    "campaign": "summer",
                    "sent_at": datetime(2025, 7, 1),
                },  # withdrawn
                {
                    "id": 4,
                    "customer_id": 5,
                    "campaign": "autumn",
                    "sent_at": datetime(2025, 9, 1),
                },  # restricted
                {"id": 5, "customer_id": 5, "campaign": "summer", "sent_at": datetime(2025, 7, 1)},
            ],
        )
        connection.execute(
            leads.insert(), [{"id": i, "contact_email": f"lead{i}@example.net"} for i in range(1, 6)]
        )
    restrict(
        engine, subject="customer", subject_key=5, kind="objection", ground="direct-marketing",
        activities=["newsletter"], now=datetime(2025, 8, 1, tzinfo=UTC),
    )  # fmt: skip


def repair_data(engine: Engine) -> None:
    """Fix every planted violation but retention's (``enforce_rule`` does that)."""
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET email = 'erased' WHERE id = 2"))
        connection.execute(sa.text("UPDATE customers SET country = 'IE' WHERE id = 3"))
        connection.execute(sa.text("UPDATE customers SET diagnosis = 'gout' WHERE id = 6"))
        connection.execute(sa.text("UPDATE customers SET birth_year = 1990, postcode = 'D03' WHERE id = 7"))
        connection.execute(sa.text("DELETE FROM sends WHERE id IN (3, 4)"))


def settings_for(tmp_path: Path) -> Settings:
    """Fixed keys and a SQLite ledger in the test's folder."""
    return load_settings(
        {
            "LETHE_MASTER_KEY": "ab" * 32,
            "LETHE_LEDGER_KEY": "cd" * 32,
            "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/l.db",
        }
    )


def check(policy: Policy, settings: Settings, ledger: Ledger | None = None) -> CheckRun:
    """Run every check of the policy."""
    with Stores(policy) as stores:
        return run_checks(policy, stores, settings, as_of=AS_OF, ledger=ledger)


def by_id(run: CheckRun) -> dict[str, object]:
    """Results by check id."""
    return {r.id: r for r in run.results}


def test_each_check_fails_on_broken_data_and_passes_on_compliant_data(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    build_shop(db_engine)
    settings = settings_for(tmp_path)
    broken = make_policy(db_url, region="us-east-1", declare_leads=False, broken_expectation=True)
    ledger = Ledger.from_settings(settings)
    run = check(broken, settings, ledger)
    results = {r.id: r for r in run.results}

    # Every generated check reached an evaluator: the missing column is an error, not a skipped check.
    assert run.expected_count == run.evaluated_count == len(results) == 10
    for check_id, expected in BROKEN.items():
        result = results[check_id]
        assert result.status == "fail", (check_id, result.observed, result.error)
        assert {k: result.observed.get(k) for k in expected} == expected, check_id
    erroring = results["expectation:2:ExpectColumnValuesToNotBeNull"]
    assert erroring.status == "error" and "no_such_column" in (erroring.error or "")
    assert run.status == "error" and run.count("pass") == 0
    assert results["coverage:undeclared"].where == ("db.leads.contact_email",)
    assert results["localisation:regions"].evidence == "lethe"
    assert results["retention:customers-3y"].evidence == "great_expectations"
    assert {r.owner for r in run.results} == {"Test DPO"}
    risks = [r.risk for r in run.findings()]
    assert len(risks) == 10 and risks == sorted(risks, reverse=True) and min(risks) > 0
    # Counts only: the planted email, names and diagnoses appear nowhere in the results.
    dumped = json.dumps([asdict(r) for r in run.results])
    for value in (PLAINTEXT, "c1@example.com", "Customer 1", "lead1@example.net", "asthma", "gout"):
        assert value not in dumped
    recorded = [e.entry for e in ledger.entries() if e.entry.action == "dpia.checks"]
    assert recorded[-1].counts["pending:customers-3y"] == 1 and recorded[-1].outcome == "error"

    repair_data(db_engine)
    with Stores(broken) as stores:
        retention = RetentionRun(broken, stores, settings, AS_OF, ledger=ledger)
        assert enforce_rule(retention, broken.rule("customers-3y")).applied == 1
    compliant = make_policy(db_url, region="eu-west-1", declare_leads=True, broken_expectation=False)
    fixed = check(compliant, settings)
    statuses = {r.id: (r.status, r.error) for r in fixed.results}
    assert statuses == {check_id: ("pass", None) for check_id in BROKEN}
    assert fixed.expected_count == fixed.evaluated_count == 9 and fixed.status == "pass"
    assert by_id(fixed)["k_anonymity:db.customers"].observed["measured_k"] == 2  # type: ignore[attr-defined]
    ledger._engine.dispose()


def test_an_unknown_expectation_is_an_unevaluated_error_never_a_pass(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = sa.create_engine(url)
    build_shop(engine)
    engine.dispose()
    text = policy_text(region="eu-west-1", declare_leads=True, broken_expectation=False).replace(
        "expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: country}",
        "expectation: ExpectNoSuchThingToHappen, kwargs: {column: country}",
    )
    run = check(parse_policy(text, environ={"DB_URL": url}), settings_for(tmp_path))
    result = by_id(run)["expectation:1:ExpectNoSuchThingToHappen"]
    assert result.status == "error" and "ExpectNoSuchThingToHappen" in (result.error or "")  # type: ignore[attr-defined]
    assert run.evaluated_count == run.expected_count - 1
    assert not run.complete and run.status == "error"


def test_a_rule_that_does_not_fit_the_schema_is_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = sa.create_engine(url)
    build_shop(engine)
    engine.dispose()
    text = policy_text(region="eu-west-1", declare_leads=True, broken_expectation=False)
    policy = parse_policy(text.replace("since: created_at", "since: signed_up_at"), environ={"DB_URL": url})
    results = by_id(check(policy, settings_for(tmp_path)))
    retention = results["retention:customers-3y"]
    assert retention.status == "error" and "signed_up_at" in (retention.error or "")  # type: ignore[attr-defined]


def test_sqlite_functions_reach_the_connections_great_expectations_opens(tmp_path: Path) -> None:
    from lethe.dpia.gx import run_gx_checks
    from lethe.dpia.sql import CheckDef, QueryCheck

    url = f"sqlite:///{tmp_path}/f.db"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1, 1), (2, 2)")
    engine.dispose()
    policy = parse_policy(
        'version: 1\ncontroller: {name: X}\nstores: {db: {url: "${DB_URL}"}}\n', environ={"DB_URL": url}
    )
    # As operators do for predicates such as generalise's buckets: a function only Lethe registers.
    check = QueryCheck(
        CheckDef("retention:x", "x", "retention", "0"), "db", "t",
        "SELECT COUNT(*) AS violations FROM {batch} WHERE lethe_twice(subselect.v) = 4",
        prepare=(lambda raw: raw.create_function("lethe_twice", 1, lambda x: 2 * x),),
    )  # fmt: skip
    with Stores(policy) as stores:
        [outcome] = run_gx_checks([check], stores)
    assert (outcome.status, outcome.observed, outcome.error) == ("fail", {"violations": 1}, None)


def test_great_expectations_results_hold_no_value_with_lethes_result_format(tmp_path: Path) -> None:
    import great_expectations as gx

    from lethe.dpia.gx import RESULT_FORMAT

    url = f"sqlite:///{tmp_path}/v.db"
    engine = sa.create_engine(url)
    build_shop(engine)
    engine.dispose()
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_sqlite("s", connection_string=url).add_table_asset(
        "c", table_name="customers"
    )
    batch = asset.get_batch(asset.build_batch_request())
    suite = gx.ExpectationSuite(name="leaky")
    # Each of these fails on rows holding the planted email; by default GX would copy them into the result.
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToNotMatchRegex(column="email", regex="left-behind")
    )
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="email", value_set=["erased"]))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeUnique(column="diagnosis"))
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    assert result.statistics["evaluated_expectations"] == 3 and not result.success
    dumped = json.dumps(result.to_json_dict())
    for value in (PLAINTEXT, "c1@example.com", "asthma", "gout"):
        assert value not in dumped
    assert PLAINTEXT in json.dumps(batch.validate(suite).to_json_dict())  # the default would have leaked
