"""Prefect tasks the flows are made of: each wraps calls into the core and publishes what a run shows.

Tasks return names, counts and outcomes, never personal values, and cache or persist nothing; retention's
retry transient database errors.
"""
