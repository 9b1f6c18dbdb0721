"""TaskPulse: the code the four functions share.

The package is layered so the architecture shows in the tree: ``domain`` and
``recurrence`` are pure rules, ``store`` is PostgreSQL behind a unit of work, and the
adapters (``dapr``, ``push``, ``mail``, ``http``) are the only modules that do I/O.
"""

__version__ = "0.1.0"
