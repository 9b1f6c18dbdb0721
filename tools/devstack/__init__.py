"""Developer tooling: obtains and runs the local platform (PostgreSQL, Kafka, daprd, ...).

Nothing in here is imported by the functions; it exists for ``task up``, the tests and
the benchmarks.
"""
