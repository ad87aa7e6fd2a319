"""The demo shop: a deterministic generator of a small web shop's data, its schema, and the demo's setup.

``spec`` says what to generate and holds the shared random state; ``people``, ``orders``, ``activity`` and
``marketing`` draw one part of each customer's rows; ``generator`` runs them customer after customer;
``schema`` and ``seed`` write the rows to a database; ``setup`` says where the demo lives and sets it up.
"""

from lethe.demo.seed import seed
from lethe.demo.spec import DemoSpec

__all__ = ["DemoSpec", "seed"]
