"""A/B of two Tessera binaries over the same seconds (python3 standard library only).

    python3 bench/ab.py --a OLD_BINARY --b NEW_BINARY [--scenario login|cc] [--storage sqlite|pg]
                        [--connections 64] [--seconds 20] [--rounds 2] [--out FILE.json]

Each round starts a fresh instance of each binary (its own data dir, or database and Redis
prefix), puts each under its own load (bench/login.py's sign-ins, or wrk's RS256 client
credentials), and lets the two take turns on the servers' CPU a quarter of a second each
(`Alternation` in bench/bench.py), so both are measured per CPU-second of their own over the same
seconds: a change smaller than the drift of a shared machine between two runs minutes apart
still shows. Prints, per round and in all, each binary's sign-ins (or tokens) per CPU-second and
the ratio B ÷ A; a run with errors is marked invalid. The rounds swap which binary the
alternation starts with. A measurement, not a test: CI only runs it on tiny durations
(`bench/run --quick`, the same binary as A and B) so that it does not rot.
"""

import argparse
import copy
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def start(args, binary, storage, workdir, pinning):
    """A fresh, provisioned and started instance of `binary` in a directory of its own."""
    workdir = tempfile.mkdtemp(dir=workdir)
    a = copy.copy(args)
    a.tessera = binary
    s = bench.TesseraSetup(a, storage, "RS256", workdir, pinning)
    s.provision()
    s.server.start()
    return s


def load_fn(b, s, scenario, connections, seconds):
    endpoints = bench.http_json(s.base, "GET", "/.well-known/openid-configuration")
    if scenario == "login":
        def login(d=seconds):
            out = b.login_load(s, endpoints, connections, d)
            out["error_count"] = out["unexpected"]
            return out
        return login
    env = b.scenario_env(s, endpoints, scenario)
    b.check_once(s, env)
    return lambda d=seconds: bench.run_wrk(b.args, b.pinning, s.base, connections, d, env)


def proc_io(pid):
    """The process's write system calls and bytes so far (/proc/PID/io: all its threads)."""
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v)
    return out


def one_round(b, args, first, second, workdir):
    """Both binaries under load together, alternated on the server CPU; returns per-binary figures."""
    setups = []
    try:
        for label, binary in (first, second):
            setups.append((label, start(args, binary, args.storage, workdir, b.pinning)))
        fns = {label: load_fn(b, s, args.scenario, args.connections, args.seconds) for label, s in setups}
        if args.warmup > 0:
            for label, s in setups:
                fns[label](args.warmup)
        outs = {}

        def run(label):
            try:
                outs[label] = fns[label]()
            except Exception as e:  # noqa: BLE001 (raised below)
                outs[label] = e

        threads = [threading.Thread(target=run, args=(label,)) for label, _ in setups]
        c0 = {label: bench.cpu_ticks(s.server.pid) for label, s in setups}
        io0 = {label: proc_io(s.server.pid) for label, s in setups}
        with bench.Alternation(setups[0][1].server.pid, setups[1][1].server.proc):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        c1 = {label: bench.cpu_ticks(s.server.pid) for label, s in setups}
        io1 = {label: proc_io(s.server.pid) for label, s in setups}
        res = {}
        for label, _ in setups:
            out = outs[label]
            if isinstance(out, Exception):
                raise out
            cpu = (c1[label] - c0[label]) / bench.CLK_TCK
            n = out["requests"]  # complete sign-ins for the login
            res[label] = {"count": n, "cpu_s": round(cpu, 3), "per_cpu_s": round(n / cpu, 2) if cpu else None,
                          "errors": out["error_count"], "valid": out["error_count"] == 0 and n > 0}
            if n:
                # Write system calls (pwrite64 of the WAL, sendto is not counted) and their bytes.
                res[label]["syscw_each"] = round((io1[label]["syscw"] - io0[label]["syscw"]) / n, 1)
                res[label]["wchar_kib_each"] = round((io1[label]["wchar"] - io0[label]["wchar"]) / n / 1024, 1)
        return res
    finally:
        for _, s in setups:
            s.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="binary A (the baseline)")
    p.add_argument("--b", required=True, help="binary B (the change)")
    p.add_argument("--scenario", default="login", choices=["login", "cc"])
    p.add_argument("--storage", default="sqlite", choices=["sqlite", "pg"])
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--seconds", type=float, default=20.0, help="wall seconds per round (each binary gets about half)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="", help="write the figures as JSON here")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--redis-host", default="127.0.0.1")
    p.add_argument("--redis-port", type=int, default=6379)
    args = p.parse_args()
    # bench.py's helpers read these names from their args.
    args.tessera = args.a
    args.perf = ""
    bench.log_file = None

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    b = bench.Bench(args)
    if b.pinning.enabled:
        os.sched_setaffinity(0, b.pinning.load)
    workdir = tempfile.mkdtemp(prefix="tessera-ab-")
    rounds = []
    try:
        for i in range(args.rounds):
            order = [("A", args.a), ("B", args.b)]
            if i % 2:
                order.reverse()
            r = one_round(b, args, order[0], order[1], workdir)
            ratio = r["B"]["per_cpu_s"] / r["A"]["per_cpu_s"] if r["A"]["per_cpu_s"] and r["B"]["per_cpu_s"] else None
            r["ratio"] = round(ratio, 4) if ratio else None
            rounds.append(r)
            flag = "" if r["A"]["valid"] and r["B"]["valid"] else "  INVALID"
            print(f"round {i + 1} ({order[0][0]} first): A {r['A']['per_cpu_s']} / B {r['B']['per_cpu_s']} "
                  f"per CPU-second ({r['A']['count']} / {r['B']['count']} in {r['A']['cpu_s']} / {r['B']['cpu_s']} s)"
                  f"  B/A {r['ratio']}{flag}; write calls each {r['A'].get('syscw_each')} / {r['B'].get('syscw_each')}, "
                  f"KiB written each {r['A'].get('wchar_kib_each')} / {r['B'].get('wchar_kib_each')}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratios = [r["ratio"] for r in rounds if r["ratio"]]
    if ratios:
        print(f"B/A: median {statistics.median(ratios):.4f}, range {min(ratios):.4f}–{max(ratios):.4f} "
              f"over {len(ratios)} rounds; all valid: {all(r['A']['valid'] and r['B']['valid'] for r in rounds)}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "rounds": rounds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
