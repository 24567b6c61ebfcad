"""The social graph and reactions: likes, favorites and follows, idempotent and counted exactly."""
