"""The append-only audit log of admin and moderator actions and credit adjustments."""
