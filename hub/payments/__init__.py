"""Credit packs and membership through a payment provider interface (Stripe, offline)."""
