"""The scaled topology on one machine: nginx in front of several ``hub serve`` processes, separate
``hub worker`` processes, Postgres, Redis and S3 (moto in server mode).

``make scale`` runs ``python -m scale up`` and ``make scale-down`` runs ``python -m scale down``.
The fault and end-to-end tests start the same topology through :func:`scale.topology.up` with
their own database, Redis and run directory, so what they prove is what ``make scale`` runs.

    running = up(Plan(run_dir=..., port=8080, database_url=..., redis_url=...))
    running.url                    # nginx, the one address clients use
    down(running.run_dir)          # stops exactly the processes recorded in run_dir/state.json

The package needs only the standard library, httpx and asyncpg (the hub's own dependencies) and
the binaries ``nginx`` and the virtualenv's Python.
"""
