"""The demo shop: a deterministic generator of a small web shop's data, its schema, and the demo's setup."""

from lethe.demo.people import DemoSpec
from lethe.demo.seed import seed

__all__ = ["DemoSpec", "seed"]
