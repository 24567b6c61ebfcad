"""Operations commands of the ``hub`` CLI that span domains: ``hub clean``, ``hub rooms compact``
and ``hub user export`` / ``hub user import`` (docs/operations.md). Each command calls the
domains' services; this package holds only the command-line plumbing and progress output."""
