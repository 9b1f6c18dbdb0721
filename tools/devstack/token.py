"""``task token -- <user>``: an access token for a local user of the running ``task up``.

It reads .local/endpoints.json, drives the provider's real authorization-code flow with
PKCE for ``<user>`` (devstack.oidc), and prints the access token alone on one line, so
that ``-H "Authorization: Bearer $(task token -- alice)"`` works in a shell. With
``--service`` it prints a client-credentials token of the trusted backend client instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from devstack.oidc import OidcError, OidcProvider, is_valid_user_id

ENDPOINTS = Path(".local/endpoints.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="task token --", description=__doc__)
    parser.add_argument("user", nargs="?", help="the local user (any valid TaskPulse user id)")
    parser.add_argument(
        "--service", action="store_true", help="a trusted backend's token (client credentials)"
    )
    parser.add_argument("--endpoints", type=Path, default=ENDPOINTS)
    args = parser.parse_args(argv)
    if not args.service and args.user is None:
        parser.error("name a user: task token -- alice")
    if not args.endpoints.exists():
        print(
            f"no {args.endpoints}: `task up` is not running here; start it (in another "
            "terminal) and run `task token -- <user>` again",
            file=sys.stderr,
        )
        return 2
    endpoints = json.loads(args.endpoints.read_text())
    if "oidc_issuer" not in endpoints:
        print(f"{args.endpoints} names no OIDC issuer: restart `task up`", file=sys.stderr)
        return 2
    if args.user is not None and not is_valid_user_id(args.user):
        print(
            f"{args.user!r} is not a valid user id: 1 to 255 printable ASCII characters "
            "without , # / \\ or spaces",
            file=sys.stderr,
        )
        return 2
    provider = OidcProvider.from_endpoints(endpoints)
    try:
        token = provider.service_token() if args.service else provider.token(args.user)
    except httpx.TransportError as error:
        print(
            f"the OIDC provider at {provider.issuer} does not answer ({error}): is `task up` "
            f"still running? ({args.endpoints} may be left from a run that was killed)",
            file=sys.stderr,
        )
        return 1
    except OidcError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
