"""The data stores a policy names: engines, reflected schemas, and the differences between databases.

``Stores`` opens each store's engine lazily and reflects its schema once; ``lethe.stores.dialects`` holds what
differs between SQLite, PostgreSQL and MariaDB (binding cut-offs, run locks); ``lethe.stores.checks`` collects
the findings of checking a policy against the schemas.
"""

from lethe.policy.urls import safe_url
from lethe.stores.engines import Stores, create_store_engine
from lethe.stores.schema import ColumnInfo, SchemaInfo, TableInfo, reflect_schema

__all__ = [
    "ColumnInfo",
    "SchemaInfo",
    "Stores",
    "TableInfo",
    "create_store_engine",
    "reflect_schema",
    "safe_url",
]
