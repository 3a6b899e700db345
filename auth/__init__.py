"""Identities, passwords, access and refresh tokens, API keys, stores and roles."""
