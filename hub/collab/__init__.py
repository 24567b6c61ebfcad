"""Rooms as a product (rooms, members, invites, chat history) and the hub's extensions to the
realtime core (``rooms/``): authentication and roles at the handshake, the SQL document store,
cross-process kicks/role changes/closes, and the room page. See docs/collab.md."""
