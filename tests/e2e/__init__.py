"""End-to-end tests against the real local platform (a package, so its stack is package-scoped)."""
