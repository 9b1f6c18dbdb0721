"""``python -m devstack.manifests generate|check``: the CLI is ``devstack.manifests.main``."""

from devstack.manifests import main

raise SystemExit(main())
