"""Accounts: users, browser sessions, API tokens, OIDC sign-in (docs/accounts.md)."""
