"""The public face: end users and their apps over HTTP, with OpenID Connect tokens."""
