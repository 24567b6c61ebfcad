"""Notifications: replies, mentions, likes, follows, new works and finished jobs, stored and
delivered live over the bus."""
