"""Prefect tasks the flows are made of: each wraps calls into the core and publishes what a run shows.

Tasks return names, counts and outcomes, never personal values, and cache or persist nothing; retention's
retry transient database errors. A flow run's tasks share one policy, one set of stores and one ledger in a
process (shared.py). Importing the package puts heartbeat.py's flow-run heartbeats in place of Prefect's:
every Lethe flow imports its tasks, so every process that runs one has them.
"""

from tasks.heartbeat import install

install()
