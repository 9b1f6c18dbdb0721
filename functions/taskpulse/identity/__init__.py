"""End-user identity: access tokens from an OpenID Connect issuer, and who may do what."""

from taskpulse.identity.caller import Caller, Forbidden, Unauthenticated

__all__ = ["Caller", "Forbidden", "Unauthenticated"]
