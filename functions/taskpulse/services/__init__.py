"""The service layer: one function per use case, over a unit of work.

A service takes already-decoded, typed input, applies the domain rules, and writes the
state and its events in one transaction. It knows nothing of HTTP or Dapr.
"""
