"""The /admin pages that gather several domains (users, rooms, queue, settings), admins only."""
