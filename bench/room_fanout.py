"""One room, many subscribers: deliveries/s and probe-to-probe latency of ``hub serve`` against a
plain ``websockets.broadcast`` relay (and the rooms core alone), in the same run. Goal (issue #4):
hub deliveries/s >= 0.6 x the relay's.

    python -m bench.room_fanout [--sinks 500] [--probes 4] [--rate 40] [--seconds 6]
                                [--targets hub,core,relay]

Per target: N silent sinks and P probe editors join one room (``/yjs/<slug>``; the hub's room is
created through its API and joined with a personal token). Rooms write to their sockets in join
order, so the probes join between two halves of the sinks and time a median recipient (the relay
writes in set order, which is arbitrary). Two phases follow:

* **paced**: the probes send ``--rate`` real Yjs updates/s in total (open loop); every probe
  times the others' updates (p50/p99 from the send time embedded in the update);
* **saturated**: each probe keeps ``--window`` updates in flight (closed loop: the next probe's
  receipt acknowledges one), so the server always has work; deliveries/s is counted at the sinks
  and probes.

Besides deliveries/s (which a busy shared machine can starve), the server's own CPU time per
delivery is printed: that ratio is the steadier one. The hub runs as ``hub serve`` runs (SQLite,
memory bus, sansio, compression off); only the room member cap is raised to fit the sinks and the
per-socket message rate limit is lifted for the saturated phase (a probe then sends faster than a
person types; the limiter still runs, so its cost is measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench._roomload import (
    Probes,
    ServerProcess,
    Sinks,
    cpu_seconds,
    hub_env,
    raise_nofile_limit,
    scratch_dir,
    setup_hub_rooms,
    start_core,
    start_hub,
    start_relay,
    summarize,
    wait_joined,
)
from bench._util import percentile

TARGETS = ("hub", "core", "relay")


@dataclasses.dataclass
class Phase:
    label: str
    deliveries_per_s: float
    server_cpu: float  # fraction of one core
    load_cpu: float  # sinks + probes, fraction of one core
    latencies: list[float]
    lost: int
    sinks_open: int
    sink_losses: str

    @property
    def cpu_us_per_delivery(self) -> float:
        if self.deliveries_per_s <= 0:
            return float("nan")
        return self.server_cpu / self.deliveries_per_s * 1e6

    def row(self, target: str) -> str:
        p50 = percentile(self.latencies, 50)
        p99 = percentile(self.latencies, 99)
        return (
            f"{target:6} {self.label:13} {self.deliveries_per_s:12,.0f} {self.server_cpu:8.0%} "
            f"{self.cpu_us_per_delivery:9.1f} {self.load_cpu:8.0%} {p50:8.1f} {p99:8.1f} "
            f"{self.lost:5}"
        )


HEADER = (
    f"{'target':6} {'phase':13} {'deliveries/s':>12} {'srv CPU':>8} {'µs/deliv':>9} "
    f"{'load CPU':>8} {'p50 ms':>8} {'p99 ms':>8} {'lost':>5}"
)


def _phase(
    label: str,
    server: ServerProcess,
    sinks: Sinks,
    probes: Probes,
    *,
    rate: float,
    window: int,
    warmup: float,
    seconds: float,
    n_probes: int,
) -> Phase:
    load_pids = [*sinks.pids, probes.pid]
    probes.start(range(n_probes), rate=rate / n_probes if rate else 0.0, window=window)
    time.sleep(warmup)
    before = sinks.stats()
    cpu0 = server.cpu_seconds()
    load0 = sum(cpu_seconds(pid) for pid in load_pids)
    probes.open_window()
    time.sleep(seconds)
    after = sinks.stats()
    cpu1 = server.cpu_seconds()
    load1 = sum(cpu_seconds(pid) for pid in load_pids)
    result = probes.finish(grace=5.0)
    elapsed = after.at - before.at
    probe_rate = sum(result.received.values()) / result.window_s
    server.check_alive()
    if result.errors:
        raise RuntimeError(f"{server.name}: probe failed: {result.errors[0]}")
    return Phase(
        label=label,
        deliveries_per_s=(after.updates - before.updates) / elapsed + probe_rate,
        server_cpu=(cpu1 - cpu0) / elapsed,
        load_cpu=(load1 - load0) / elapsed,
        latencies=result.all_latencies(),
        lost=sum(result.lost(label) for label in result.expected),
        sinks_open=after.open,
        sink_losses=after.describe_losses(),
    )


def _run_target(target: str, args: argparse.Namespace, log_dir: Path) -> list[Phase]:
    with scratch_dir(f"bench-fanout-{target}-") as tmp:
        if target == "hub":
            env = hub_env(
                tmp,
                {
                    "HUB_ROOM_MAX_MEMBERS": str(args.sinks + args.probes + 10),
                    "HUB_ROOM_MESSAGES_PER_SECOND": "100000",
                },
            )
            server = start_hub(env, log_dir)
        elif target == "core":
            server = start_core(log_dir)
        else:
            server = start_relay(log_dir)
        sinks: Sinks | None = None
        probes: Probes | None = None
        try:
            if target == "hub":
                room = setup_hub_rooms(server.http_url, 1)
                path = room.yjs_path(room.slugs[0])
            else:
                path = "/yjs/bench"
            sinks = Sinks(args.sink_procs, batch_ms=args.sink_batch_ms)
            probes = Probes()
            url = f"ws://127.0.0.1:{server.port}{path}"
            # Probes join between two halves of the sinks: rooms fan out in join order, so
            # they time what a median recipient sees, not the first or the last one.
            for index, count in enumerate((args.sinks // 2, args.sinks - args.sinks // 2)):
                if index == 1:
                    probes.connect([("probe", url)] * args.probes)
                opened, failures = sinks.connect(
                    server.port, [path] * count, greeting=target != "relay"
                )
                if opened < count:
                    raise RuntimeError(f"{server.name}: sinks failed to join: {failures}")
            took = wait_joined(probes, args.probes, sinks, args.sinks)
            print(f"{target:6} everyone joined {took:.1f} s after the upgrades", flush=True)
            phases = []
            for label, rate in ((f"paced {args.rate:g}/s", args.rate), ("saturated", 0.0)):
                phase = _phase(
                    label,
                    server,
                    sinks,
                    probes,
                    rate=rate,
                    window=args.window,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    n_probes=args.probes,
                )
                phases.append(phase)
                print(phase.row(target), flush=True)
                if phase.sinks_open < args.sinks:
                    print(f"       sinks lost during {label}: {phase.sink_losses}", flush=True)
            return phases
        finally:
            if probes is not None:
                probes.close()
            if sinks is not None:
                sinks.close()
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sinks", type=int, default=500, help="silent subscribers")
    parser.add_argument("--probes", type=int, default=4, help="editors that send and time")
    parser.add_argument("--rate", type=float, default=40.0, help="paced updates/s, all probes")
    parser.add_argument("--window", type=int, default=8, help="in-flight updates per probe")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured time per phase")
    parser.add_argument("--sink-procs", type=int, default=2, help="sink worker processes")
    parser.add_argument("--sink-batch-ms", type=float, default=50.0, help="sink poll pause")
    parser.add_argument("--targets", default=",".join(TARGETS), help="hub,core,relay")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown or not targets or args.probes < 2 or args.sinks < 1:
        parser.error("targets from hub,core,relay; at least 2 probes and 1 sink")
    limit = raise_nofile_limit()
    if limit < args.sinks + 200:
        parser.error(f"open-file limit {limit} is too low for {args.sinks} sinks")
    print(
        f"one room, {args.sinks} sinks + {args.probes} probes; paced {args.rate:g} updates/s, "
        f"then saturated (window {args.window}/probe); {args.seconds:g} s per phase",
        flush=True,
    )
    print(HEADER, flush=True)
    results: dict[str, list[Phase]] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="bench-fanout-logs-"))
    for target in targets:
        results[target] = _run_target(target, args, log_dir)
    _report(results, args)
    print(f"server logs: {log_dir}")
    return 0


def _report(results: dict[str, list[Phase]], args: argparse.Namespace) -> None:
    print()
    for target, phases in results.items():
        print(f"{target:6} paced latency: {summarize(phases[0].latencies)}")
    for target, phases in results.items():
        if phases[1].server_cpu < 0.85:
            print(
                f"note: {target} was not CPU-bound when saturated ({phases[1].server_cpu:.0%} of "
                "a core; a busy machine or the load generator held it back): trust µs/delivery"
            )
    if "relay" not in results:
        return
    relay_sat = results["relay"][1]
    for target in ("hub", "core"):
        if target not in results:
            continue
        sat = results[target][1]
        ratio = sat.deliveries_per_s / relay_sat.deliveries_per_s
        cost = relay_sat.cpu_us_per_delivery / sat.cpu_us_per_delivery
        print(
            f"ratio {target}/relay: deliveries/s {ratio:.2f}, deliveries per CPU-second "
            f"{cost:.2f}; paced p99 {percentile(results[target][0].latencies, 99):.1f} ms vs "
            f"{percentile(results['relay'][0].latencies, 99):.1f} ms"
        )
        if target == "hub":
            # Judged on the lower of the two: a starved relay flatters the first ratio.
            verdict = "met" if min(ratio, cost) >= 0.6 else "MISSED"
            print(f"goal hub/relay >= 0.6 (lower of the two ratios): {verdict}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
