"""Single sign-on through OpenID Connect (optional: ``OIDC_ENABLED``), and re-authentication at the identity
provider as the proof of an electronic signature. See ``config`` for the settings."""
