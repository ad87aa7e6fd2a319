"""The demo shop: a deterministic generator of a small web shop's data, its schema, and the demo's setup."""

from lethe.demo.seed import seed
from lethe.demo.spec import DemoSpec

__all__ = ["DemoSpec", "seed"]
