"""The creation hub: rooms as a product, accounts, generation, credits, community."""

__version__ = "0.1.0"
