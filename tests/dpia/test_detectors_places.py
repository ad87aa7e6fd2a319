"""Place names (city, town, locality, municipality) are personal: part of an address, and a quasi-identifier.

By name only at word boundaries of snake_case and CamelCase: ``BillingCity`` is a city, ``capacity`` is not.
On Chinook, the scan flags exactly ``Customer.City``, ``Employee.City`` and ``Invoice.BillingCity``; on the
demo shop, ``customers.city`` and ``addresses.city``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.databases import ChinookDb
from support.shop import open_shop

from lethe.dpia.coverage import scan_coverage
from lethe.dpia.detectors.classify import classify_column
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY, PersonalKind
from lethe.dpia.detectors.names import detect_by_name
from lethe.policy.categories import VOCABULARY
from lethe.policy.loading import parse_policy
from lethe.stores.engines import Stores

K = PersonalKind
CITY_CATEGORY = "user.contact.address.city"
CITIES = ["Oslo", "São Paulo", "Saint-Étienne", "Fort Worth", "Montréal", "St. Louis", "Frankfurt", "Delhi"]
# Sampling Chinook's NUMERIC columns through SQLite goes through float; the scan only counts them.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")


@pytest.mark.parametrize(
    "column",
    [
        "city", "City", "CITY", "BillingCity", "billing_city", "shipping_city", "customer_city", "home_town",
        "HomeTown", "hometown", "town", "Town", "locality", "Locality", "municipality", "Municipality",
        "city_name", "CityName", "town_name", "postal_town", "post_town", "ville", "ciudad", "stadt",
        "wohnort", "Ort", "gemeinde", "comune", "municipio", "localidad", "city2", "delivery-city",
    ],
)  # fmt: skip
def test_place_names_are_cities(column: str) -> None:
    assert detect_by_name(column) is K.CITY


@pytest.mark.parametrize(
    "column",
    [
        "capacity", "Capacity", "velocity", "ethnicity", "electricity", "authenticity", "publicity",
        "ethnicity_code", "seat_capacity", "MaxVelocity", "citizenship", "township_tax", "townhouse",
        "city_id", "CityId", "city_fk", "city_count", "is_city", "city_code", "city_population",
        "municipality_code", "locality_type", "city_updated_at", "cities_enabled", "opportunity", "porta",
        "sort", "port", "report", "short_name", "cohort", "effort", "comfort", "ortho",
    ],
)  # fmt: skip
def test_words_that_merely_contain_a_place_are_not(column: str) -> None:
    assert detect_by_name(column) is not K.CITY


def test_city_values_confirm_the_name_and_the_category_is_in_the_vocabulary() -> None:
    found = classify_column("BillingCity", "text", CITIES)
    assert found is not None
    assert (found.kind, found.evidence, found.matched, found.sampled) == (K.CITY, "name+values", 8, 8)
    assert found.category == SUGGESTED_CATEGORY[K.CITY] == CITY_CATEGORY
    assert CITY_CATEGORY in VOCABULARY


def test_city_is_never_decided_by_values_alone() -> None:
    assert classify_column("label", "text", CITIES) is None  # any capitalised word would look like a place


def test_codes_contradict_a_city_name() -> None:
    found = classify_column("city", "text", ["A1-77", "B2-19", "Z9-03", "Q4-51"])
    assert found is not None and found.kind is K.CITY and found.evidence == "name" and found.confidence < 0.5


def _store_only(url: str, store: str) -> str:
    """A policy with one store and an empty data map: every personal column is undeclared."""
    return f"version: 1\ncontroller: {{name: Test Ltd}}\nstores:\n  {store}:\n    url: '{url}'\n"


def test_chinook_city_columns_are_flagged_and_nothing_else_is_a_city(chinook_url: ChinookDb) -> None:
    policy = parse_policy(_store_only(chinook_url.url, "chinook"), source="chinook.yaml", environ={})
    with Stores(policy) as stores:
        findings = scan_coverage(policy, stores)
    cities = {(f.table, f.column): f for f in findings if f.kind == K.CITY}
    expected = {(chinook_url.name(t), chinook_url.name(c)) for t, c in (
        ("Customer", "City"), ("Employee", "City"), ("Invoice", "BillingCity"),
    )}  # fmt: skip
    assert set(cities) == expected
    for finding in cities.values():
        assert (finding.suggested_category, finding.evidence, finding.declared) == (
            CITY_CATEGORY, "name+values", False,
        )  # fmt: skip


def test_the_demo_shops_city_columns_are_flagged(db_url: str, tmp_path: Path) -> None:
    with open_shop(db_url, tmp_path) as shop:
        policy = parse_policy(_store_only(db_url, "shop"), source="demo.yaml", environ={})
        with Stores(policy) as stores:
            findings = scan_coverage(policy, stores)
        declared = {(f.table, f.column) for f in scan_coverage(shop.policy, shop.stores) if f.kind == K.CITY}
    assert {(f.table, f.column) for f in findings if f.kind == K.CITY} == {
        ("customers", "city"), ("addresses", "city"),
    }  # fmt: skip
    assert declared == {("customers", "city"), ("addresses", "city")}
