#!/usr/bin/env python3
"""Tessera's benchmark harness (issue #6); bench/run is the entry point and builds what this needs.

Starts each server on 127.0.0.1 — Tessera on the embedded default (SQLite) and on PostgreSQL +
Redis, and the reference, panva's oidc-provider (bench/oidc-provider) — once per access-token
algorithm (RS256, ES256), drives it with wrk (bench/wrk.lua) or, for the browser-style login,
with bench/login.py, and measures per run: requests/s, p50/p99 latency, requests per server
CPU-second (utime + stime from /proc/PID/stat before and after), RSS and VmHWM; per server
start: the time from spawning the process to the first successful discovery response (with an
existing data dir) and the idle RSS. The ceilings (openssl speed, argon2id) are measured in the
same run. Writes OUT/results.json; bench/report.py turns it into Markdown and CSV.

Python 3 standard library only. Every run is bounded in time; every server, database and Redis
key this creates is removed at the end.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import login  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "bench-password-" + secrets.token_urlsafe(12)
USERNAME = "bench"
REDIRECT_URI = "http://127.0.0.1:9/cb"
AUDIENCE = "https://api.example.com"
LOGIN_SCOPE = "openid profile email offline_access"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Scenarios, in the order they run on one server. The first three come before the peak-RSS
# reading that the RSS target is about.
ALL_SCENARIOS = ["cc", "discovery", "jwks", "introspection", "userinfo", "refresh", "login"]
ES256_SCENARIOS = ["cc"]  # the ES256 servers only differ in the client-credentials token
# Judged side by side with oidc-provider too (RS256 servers): two servers' pre-rendered bytes,
# where the kernel's work is most of Tessera's (docs/BENCHMARKS.md).
SIDE_BY_SIDE_STATIC = ["discovery", "jwks"]

log_file = None


def log(*a):
    line = " ".join(str(x) for x in a)
    print(line, flush=True)
    if log_file:
        log_file.write(line + "\n")
        log_file.flush()


# --- processes ---------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime, all threads, clock ticks


def mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


class Pinning:
    """Server (and the ceilings) on CPU 0, load generators on CPU 1, when there are two CPUs."""

    def __init__(self, enabled):
        cpus = sorted(os.sched_getaffinity(0))
        self.enabled = enabled and len(cpus) >= 2
        self.server = {cpus[0]} if self.enabled else set(cpus)
        self.load = {cpus[1]} if self.enabled else set(cpus)

    def server_preexec(self):
        cpus = self.server

        def f():
            os.setpgrp()
            os.sched_setaffinity(0, cpus)
        return f

    def load_preexec(self):
        cpus = self.load
        return lambda: os.sched_setaffinity(0, cpus)


class Server:
    def __init__(self, name, alg, argv, env, base, pinning, logdir):
        self.name, self.alg, self.argv, self.env, self.base = name, alg, argv, env, base
        self.pinning = pinning
        self.proc = None
        self.logpath = os.path.join(logdir, f"{name}-{alg}.log")

    def start(self, timeout=60.0):
        """Spawns the server; returns milliseconds to the first 200 from discovery."""
        logf = open(self.logpath, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.pinning.server_preexec())
        logf.close()
        u = urllib.parse.urlsplit(self.base)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logpath}")
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
                c.request("GET", "/.well-known/openid-configuration")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return (time.monotonic() - t0) * 1000.0
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{self.name} did not answer discovery within {timeout} s")
            time.sleep(0.001)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid


def http_json(base, method, target, body=None, headers=None, expect=200):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != expect:
        raise RuntimeError(f"{method} {target}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def basic(client_id, secret):
    q = urllib.parse.quote
    return "Basic " + base64.b64encode(f"{q(client_id, safe='')}:{q(secret, safe='')}".encode()).decode()


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + (("?" + u.query) if u.query else "")


# --- the server kinds ---------------------------------------------------------------------------

class TesseraSetup:
    """Tessera on the embedded default (sqlite) or on PostgreSQL + Redis (pg)."""

    def __init__(self, args, storage, alg, workdir, pinning):
        self.args, self.storage, self.alg, self.pinning = args, storage, alg, pinning
        self.name = "tessera-sqlite" if storage == "sqlite" else "tessera-pg"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        tag = f"{os.getpid()}_{secrets.token_hex(3)}_{alg.lower()}"
        self.data_dir = os.path.join(workdir, f"{self.name}-{alg}")
        os.makedirs(self.data_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        env.update({
            "TESSERA_DATA_DIR": self.data_dir,
            "TESSERA_BIND": f"127.0.0.1:{self.port}",
            "TESSERA_ISSUER": self.base,
            "TESSERA_ACCESS_TOKEN_ALG": alg,
            "TESSERA_WORKERS": str(args.workers),
            "TESSERA_LOG": "warn",
        })
        self.db = None
        self.prefix = None
        if storage == "pg":
            self.db = f"tessera_bench_{tag}"
            self.prefix = f"tessera-bench-{tag}:"
            kek = subprocess.run([args.tessera, "keys", "generate-kek"], capture_output=True, text=True,
                                 check=True, env=env, timeout=30).stdout.strip()
            psql(args, f'CREATE DATABASE "{self.db}"')
            env.update({
                "TESSERA_DATABASE_URL": f"postgres://{args.pg_user}@{args.pg_host}:{args.pg_port}/{self.db}",
                "TESSERA_REDIS_URL": f"redis://{args.redis_host}:{args.redis_port}",
                "TESSERA_REDIS_KEY_PREFIX": self.prefix,
                "TESSERA_KEY_ENCRYPTION_KEY": kek,
            })
        self.env = env
        self.server = Server(self.name, alg, [args.tessera, "serve"], env, self.base, pinning, workdir)

    def cli(self, *argv, stdin=None):
        r = subprocess.run([self.args.tessera, *argv], input=stdin, capture_output=True, text=True,
                           env=self.env, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"tessera {' '.join(argv)}: {r.stderr.strip()}")
        return r.stdout

    def provision(self):
        """First start (creates the schema and keys), then clients and the user from the CLI."""
        self.server.start()
        self.server.stop()
        cc = json.loads(self.cli("client", "create", "--name", "Bench machine client", "--id", "bench-cc",
                                 "--grant-type", "client_credentials", "--scope", "api:read",
                                 "--audience", AUDIENCE))
        web = json.loads(self.cli("client", "create", "--name", "Bench web app", "--id", "bench-web",
                                  "--redirect-uri", REDIRECT_URI, "--grant-type", "authorization_code",
                                  "--grant-type", "refresh_token"))
        self.cli("user", "create", "--username", USERNAME, "--email", f"{USERNAME}@example.com",
                 "--name", "Bench User", "--email-verified", "--password-stdin", stdin=PASSWORD + "\n")
        self.cc = {"client_id": cc["client_id"], "client_secret": cc["client_secret"]}
        self.web = {"client_id": web["client_id"], "client_secret": web["client_secret"],
                    "redirect_uri": REDIRECT_URI}

    def cleanup(self):
        self.server.stop()
        if self.db:
            try:
                psql(self.args, f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001
                log(f"  warning: could not drop database {self.db}: {e}")
        if self.prefix:
            try:
                redis_delete_prefix(self.args, self.prefix)
            except Exception as e:  # noqa: BLE001
                log(f"  warning: could not delete Redis keys {self.prefix}*: {e}")


class OidcProviderSetup:
    def __init__(self, args, alg, workdir, pinning):
        self.args, self.alg, self.pinning = args, alg, pinning
        self.name = "oidc-provider"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cc = {"client_id": "bench-cc", "client_secret": secrets.token_urlsafe(32)}
        self.web = {"client_id": "bench-web", "client_secret": secrets.token_urlsafe(32),
                    "redirect_uri": REDIRECT_URI}
        cfg = {"cc_secret": self.cc["client_secret"], "web_secret": self.web["client_secret"],
               "username": USERNAME, "password_hash": args.op_password_hash,
               "redirect_uri": REDIRECT_URI, "audience": AUDIENCE}
        cfg_path = os.path.join(workdir, f"oidc-provider-{alg}.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ)
        env.update({"BENCH_PORT": str(self.port), "BENCH_ALG": alg, "BENCH_CONFIG": cfg_path,
                    "NODE_ENV": "production"})
        self.server = Server(self.name, alg, [args.node, os.path.join(HERE, "oidc-provider", "server.js")],
                             env, self.base, pinning, workdir)

    def provision(self):
        pass

    def cleanup(self):
        self.server.stop()


def psql(args, sql):
    subprocess.run(["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user, "-d", "postgres",
                    "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, timeout=60)


def redis_delete_prefix(args, prefix):
    base = ["redis-cli", "-h", args.redis_host, "-p", str(args.redis_port)]
    keys = subprocess.run(base + ["--scan", "--pattern", prefix + "*"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.split()
    for i in range(0, len(keys), 500):
        subprocess.run(base + ["DEL", *keys[i:i + 500]], capture_output=True, check=True, timeout=60)


def backing_ticks(args, setup):
    """CPU ticks of the PostgreSQL backends serving `setup`'s database and of redis-server, by
    pid; None for the servers that keep their state in-process."""
    if getattr(setup, "db", None) is None:
        return None
    pids = set()
    try:
        r = subprocess.run(["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user, "-d", "postgres",
                            "-qAtc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{setup.db}'"],
                           capture_output=True, text=True, timeout=20)
        pids.update(int(x) for x in r.stdout.split() if x.isdigit())
        r = subprocess.run(["redis-cli", "-h", args.redis_host, "-p", str(args.redis_port), "INFO", "server"],
                           capture_output=True, text=True, timeout=20)
        m = re.search(r"^process_id:(\d+)", r.stdout, re.M)
        if m:
            pids.add(int(m.group(1)))
    except (OSError, subprocess.SubprocessError):
        return None
    out = {}
    for p in pids:
        try:
            out[p] = cpu_ticks(p)
        except OSError:
            pass  # not visible from here (another namespace) or gone
    return out


def pg_redis_available(args):
    if not shutil.which("psql") or not shutil.which("redis-cli"):
        return "psql or redis-cli not installed"
    try:
        psql(args, "SELECT 1")
    except Exception as e:  # noqa: BLE001
        return f"PostgreSQL not answering: {e}"
    r = subprocess.run(["redis-cli", "-h", args.redis_host, "-p", str(args.redis_port), "PING"],
                       capture_output=True, text=True, timeout=10)
    if r.stdout.strip() != "PONG":
        return "Redis not answering"
    return None


# --- load ---------------------------------------------------------------------------------------

def run_wrk(args, pinning, base, connections, duration, env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    env["BENCH_THREADS"] = "1"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", os.path.join(HERE, "wrk.lua"), base]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60,
                       preexec_fn=pinning.load_preexec())
    m = re.search(r"^BENCHJSON (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stdout[-500:]} {r.stderr[-500:]}")
    out = json.loads(m.group(1))
    errs = out["errors"]
    # wrk counts status >= 400 in errors.status; wrk.lua counts every status other than the
    # expected one in `unexpected`; socket errors and timeouts are separate.
    out["error_count"] = out["unexpected"] + errs["connect"] + errs["read"] + errs["write"] + errs["timeout"]
    out["error_detail"] = {k: v for k, v in errs.items() if v and k != "status"}
    out["error_detail"].update(out.get("statuses", {}))
    if out.get("no_token"):
        out["error_detail"]["no_token"] = out["no_token"]
    if out.get("sample"):
        out["error_samples"] = [out["sample"]]
    return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.pinning = Pinning(not args.no_pin)
        self.runs = []
        self.instances = []

    def measure(self, setup, scenario, connections, fn):
        """Runs `fn` (the load) between two CPU readings of the server; records the run."""
        pid = setup.server.pid
        backing0 = backing_ticks(self.args, setup)
        perf = None
        if self.args.perf:
            # perf record of the server during the run (its own CPU cost is on the load CPU
            # only partly: expect a few per cent less throughput while profiling).
            os.makedirs(self.args.perf, exist_ok=True)
            data = os.path.join(self.args.perf, f"{setup.name}-{setup.alg}-{scenario}-c{connections}.perf.data")
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid), "-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    preexec_fn=self.pinning.load_preexec())
            time.sleep(0.5)
        c0 = cpu_ticks(pid)
        out = fn()
        c1 = cpu_ticks(pid)
        backing1 = backing_ticks(self.args, setup)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        mem = mem_kib(pid)
        cpu = (c1 - c0) / CLK_TCK
        dur = out["duration_us"] / 1e6
        n = out["requests"]
        run = {
            "server": setup.name, "alg": setup.alg, "scenario": scenario, "connections": connections,
            "requests": n, "duration_s": round(dur, 3), "cpu_s": round(cpu, 3),
            "rps": round(n / dur, 1) if dur else None,
            "per_cpu_s": round(n / cpu, 1) if cpu > 0 else None,
            "p50_ms": round(out["p50_us"] / 1000, 3) if out.get("p50_us") is not None else None,
            "p99_ms": round(out["p99_us"] / 1000, 3) if out.get("p99_us") is not None else None,
            "errors": out["error_count"], "error_detail": out.get("error_detail", {}),
            "valid": out["error_count"] == 0 and n > 0,
            "rss_kib": mem.get("VmRSS"), "hwm_kib": mem.get("VmHWM"),
        }
        if backing0 is not None and backing1 is not None:
            # PostgreSQL backends of the bench database and the Redis server: the work Tessera
            # hands to them (oidc-provider and SQLite do theirs in-process).
            extra = sum(max(0, backing1.get(p, 0) - backing0.get(p, 0)) for p in backing1) / CLK_TCK
            run["db_cpu_s"] = round(extra, 3)
            run["per_cpu_s_incl_db"] = round(n / (cpu + extra), 1) if cpu + extra > 0 else None
        if "http_requests" in out:
            run["http_requests"] = out["http_requests"]
        if out.get("error_samples"):
            run["error_samples"] = out["error_samples"]
        if not run["valid"]:
            log(f"    INVALID: {run['errors']} errors {run['error_detail']} {run.get('error_samples', '')}")
        return run

    def login_load(self, setup, endpoints, connections, duration, max_flows=None):
        return login.run_load(setup.base, endpoints, setup.web, USERNAME, PASSWORD, LOGIN_SCOPE,
                              connections, duration, max_flows=max_flows)

    def mint(self, setup, endpoints, count):
        """Complete sign-ins (outside any measurement) for tokens; returns the token responses."""
        # One flow at a time: these are set-up, not load (and concurrent sign-ins are measured,
        # with their errors, in the login runs).
        tokens, failed, samples = [], 0, []
        while len(tokens) < count and failed <= max(3, count // 4):
            out = self.login_load(setup, endpoints, 1, 120, max_flows=count - len(tokens))
            tokens.extend(out["tokens"])
            failed += out["unexpected"]
            samples.extend(out["error_samples"])
        if len(tokens) < count:
            raise RuntimeError(f"minting tokens failed on {setup.name}: {samples[:3]}")
        if failed:
            log(f"    note: {failed} sign-ins failed while minting tokens: {samples[:2]}")
        return tokens

    def scenario_env(self, setup, endpoints, scenario):
        cc_auth = basic(setup.cc["client_id"], setup.cc["client_secret"])
        if scenario == "cc":
            return {"BENCH_METHOD": "POST", "BENCH_PATH": path_of(endpoints["token_endpoint"]),
                    "BENCH_BODY": "grant_type=client_credentials&scope=api%3Aread", "BENCH_AUTH": cc_auth}
        if scenario == "discovery":
            return {"BENCH_PATH": "/.well-known/openid-configuration"}
        if scenario == "jwks":
            return {"BENCH_PATH": path_of(endpoints["jwks_uri"])}
        raise ValueError(scenario)

    def check_once(self, setup, env):
        """One request by hand before the load, so a misconfigured scenario fails loudly."""
        headers = {}
        if env.get("BENCH_AUTH"):
            headers["Authorization"] = env["BENCH_AUTH"]
        if env.get("BENCH_METHOD") == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return http_json(setup.base, env.get("BENCH_METHOD", "GET"), env["BENCH_PATH"],
                         env.get("BENCH_BODY"), headers)

    def run_scenario(self, setup, endpoints, scenario, workdir):
        a = self.args
        levels = a.connections
        results = []
        if scenario in ("cc", "discovery", "jwks", "introspection", "userinfo"):
            if scenario in ("introspection", "userinfo"):
                at = self.mint(setup, endpoints, 1)[0]["access_token"]
                if scenario == "introspection":
                    env = {"BENCH_METHOD": "POST", "BENCH_PATH": path_of(endpoints["introspection_endpoint"]),
                           "BENCH_BODY": "token=" + urllib.parse.quote(at, safe="") + "&token_type_hint=access_token",
                           "BENCH_AUTH": basic(setup.cc["client_id"], setup.cc["client_secret"])}
                else:
                    env = {"BENCH_PATH": path_of(endpoints["userinfo_endpoint"]), "BENCH_AUTH": "Bearer " + at}
            else:
                env = self.scenario_env(setup, endpoints, scenario)
            first = self.check_once(setup, env)
            if scenario == "introspection" and not first.get("active"):
                raise RuntimeError(f"{setup.name}: introspection says the token is not active: {first}")
            if scenario == "userinfo" and not first.get("sub"):
                raise RuntimeError(f"{setup.name}: userinfo without sub: {first}")
            if a.warmup > 0:
                run_wrk(a, self.pinning, setup.base, max(levels), a.warmup, env)
            for c in levels:
                def fn(d=a.duration, c=c):
                    return run_wrk(a, self.pinning, setup.base, c, d, env)
                if scenario == "cc" and setup.alg == "RS256":
                    results.append(self.measure_with_ceiling(setup, scenario, c, fn, "rsa2048_sign"))
                else:
                    results.append(self.measure(setup, scenario, c, fn))
                self.report_run(results[-1])
        elif scenario == "refresh":
            tokens_in = os.path.join(workdir, f"{setup.name}-{setup.alg}-rt-in.txt")
            tokens_out = os.path.join(workdir, f"{setup.name}-{setup.alg}-rt-out.txt")
            pool = []
            env = {"BENCH_METHOD": "POST", "BENCH_PATH": path_of(endpoints["token_endpoint"]),
                   "BENCH_BODY": "grant_type=refresh_token", "BENCH_REFRESH": "1",
                   "BENCH_AUTH": basic(setup.web["client_id"], setup.web["client_secret"]),
                   "BENCH_TOKENS_IN": tokens_in, "BENCH_TOKENS_OUT": tokens_out}

            web_auth = basic(setup.web["client_id"], setup.web["client_secret"])

            def touch(tokens):
                # One refresh each, by hand: returns the successors.
                out = []
                for t in tokens:
                    body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": t})
                    r = http_json(setup.base, "POST", path_of(endpoints["token_endpoint"]), body,
                                  {"Authorization": web_auth, "Content-Type": "application/x-www-form-urlencoded"})
                    out.append(r["refresh_token"])
                return out

            def prepare(c):
                # Each connection needs a token of its own, plus a few spare. Fresh ones for every
                # run, minted in batches with every token refreshed once after each batch:
                # oidc-provider's default memory adapter is an LRU of about 1000 entries, and a
                # sign-in leaves a dozen, so tokens (and grants) minted early in a long batch
                # would be evicted before use (invalid_grant) unless touched again.
                pool.clear()
                while len(pool) < c + 8:
                    batch = self.mint(setup, endpoints, min(16, c + 8 - len(pool)))
                    fresh = pool + [t["refresh_token"] for t in batch]
                    pool.clear()
                    pool.extend(touch(fresh))
                with open(tokens_in, "w") as f:
                    f.write("".join(t + "\n" for t in pool))
                pool.clear()

            def collect():
                with open(tokens_out) as f:
                    pool.extend(line.strip() for line in f if line.strip())

            if a.warmup > 0:
                prepare(max(levels))
                run_wrk(a, self.pinning, setup.base, max(levels), a.warmup, env)
                collect()
            for c in levels:
                prepare(c)
                results.append(self.measure(setup, scenario, c,
                                            lambda c=c: run_wrk(a, self.pinning, setup.base, c, a.duration, env)))
                collect()
                self.report_run(results[-1])
        elif scenario == "login":
            if a.warmup > 0:
                self.login_load(setup, endpoints, 2, a.warmup)
            for c in levels:
                def fn(d=a.duration, c=c):
                    out = self.login_load(setup, endpoints, c, d)
                    out.pop("tokens", None)
                    out["error_count"] = out["unexpected"]
                    out["error_detail"] = {"failed_flows": out["unexpected"]} if out["unexpected"] else {}
                    return out
                results.append(self.measure_with_ceiling(setup, scenario, c, fn, "argon2id_hash"))
                self.report_run(results[-1])
        return results

    def measure_with_ceiling(self, setup, scenario, c, fn, key):
        """measure(), then a paired run that gives the figure the target is judged on: the same
        load again (fn(2 × seconds)) while the server and the ceiling take turns on the
        server's CPU, `PAIR_BLOCK_S` each (Alternation).

        The machine is shared: what a CPU-second buys drifts by 10-30 % within seconds (another
        tenant's load), so a ceiling measured before or after a run, even right before and
        right after, compares the server with a different machine. Taking turns every quarter
        of a second, both are measured over the same seconds, each per CPU-second of its own
        (utime + stime of the server, openssl speed's user time / bench/ceiling's CPU time), so
        drift cancels out. Turns rather than both runnable at once: sharing the CPU through the
        scheduler's time slices (milliseconds) cost the server 48-92 % more CPU per token
        outside the signature (perf: kernel, Tessera and libc samples per token, next to a run
        alone) and the ceiling's tight loop nothing measurable — a server's connections and
        buffers go cold when its turns are that short, the ceiling's few kilobytes do not — so
        that pairing judged the server under conditions no run of it alone has. With turns of
        a quarter second the server's CPU per token, inside and outside OpenSSL, is what it is
        in a run alone (docs/BENCHMARKS.md, *Before / after*). The main run's figures (req/s,
        latency, req/CPU-s) are untouched by it."""
        r = self.measure(setup, scenario, c, fn)
        # Each gets about half of the wall time: twice the paired seconds for as much CPU.
        seconds = 2 * self.args.paired_seconds * (2 if key == "argon2id_hash" else 1)
        proc = start_paired_ceiling(self.args, self.pinning, key, seconds)
        try:
            with Alternation(setup.server.pid, proc):
                p = self.measure(setup, scenario, c, lambda: fn(seconds))
        finally:
            ceiling = finish_paired_ceiling(proc, key, seconds)
        ratio = p["per_cpu_s"] / ceiling if p["per_cpu_s"] and ceiling else None
        r["ceiling_paired"] = {"key": key, "seconds": seconds, "ceiling": round(ceiling, 2),
                               "server_per_cpu_s": p["per_cpu_s"], "requests": p["requests"],
                               "cpu_s": p["cpu_s"], "errors": p["errors"],
                               "ratio": round(ratio, 4) if ratio is not None else None}
        if not p["valid"]:
            # An error in the paired run invalidates the run it judges.
            r["errors"] += p["errors"] or 1
            r["valid"] = False
            r["error_detail"] = {**r.get("error_detail", {}), "paired_run": p.get("error_detail", {})}
        log(f"    paired with {key}: server {p['per_cpu_s'] or 0:.1f} / ceiling {ceiling:.1f} per "
            f"CPU-second = {(ratio or 0) * 100:.1f} %")
        return r

    def side_by_side(self, tessera, reference, connections, seconds, scenario="cc"):
        """One scenario (ES256 client credentials; discovery and JWKS) on a Tessera server and on
        oidc-provider over the same seconds: both up, each under its own load, taking turns on
        the servers' CPU every `PAIR_BLOCK_S` (Alternation), each measured per CPU-second of its
        own. These targets are ratios of two servers, and in separate runs they are measured a
        quarter of an hour apart, while what a CPU-second buys on a shared machine drifts within
        minutes — and not alike for both: oidc-provider's work is mostly JavaScript, Tessera's
        mostly the signature or the kernel's (docs/BENCHMARKS.md, *Where the targets stand*)."""
        a = self.args
        both = (tessera, reference)
        envs = {}
        for s in both:
            endpoints = http_json(s.base, "GET", "/.well-known/openid-configuration")
            envs[s.name] = self.scenario_env(s, endpoints, scenario)
            self.check_once(s, envs[s.name])
            if a.warmup > 0:
                run_wrk(a, self.pinning, s.base, connections, a.warmup, envs[s.name])
        outs = {}

        def load(s):
            try:
                outs[s.name] = run_wrk(a, self.pinning, s.base, connections, seconds, envs[s.name])
            except Exception as e:  # noqa: BLE001 (raised below, in this thread)
                outs[s.name] = e

        threads = [threading.Thread(target=load, args=(s,)) for s in both]
        c0 = {s.name: cpu_ticks(s.server.pid) for s in both}
        with Alternation(tessera.server.pid, reference.server.proc):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        c1 = {s.name: cpu_ticks(s.server.pid) for s in both}
        pair = {"alg": tessera.alg, "scenario": scenario, "connections": connections, "seconds": seconds}
        for role, s in (("tessera", tessera), ("reference", reference)):
            out = outs[s.name]
            if isinstance(out, Exception):
                raise out
            cpu = (c1[s.name] - c0[s.name]) / CLK_TCK
            n = out["requests"]
            pair[role] = {"server": s.name, "requests": n, "cpu_s": round(cpu, 3),
                          "per_cpu_s": round(n / cpu, 1) if cpu > 0 else None,
                          "errors": out["error_count"], "error_detail": out.get("error_detail", {}),
                          "valid": out["error_count"] == 0 and n > 0}
        t, r = pair["tessera"], pair["reference"]
        pair["valid"] = t["valid"] and r["valid"]
        pair["ratio"] = round(t["per_cpu_s"] / r["per_cpu_s"], 3) if t["per_cpu_s"] and r["per_cpu_s"] else None
        if not pair["valid"]:
            log(f"    INVALID: {t['errors']} / {r['errors']} errors {t['error_detail']} {r['error_detail']}")
        log(f"    side by side, {scenario} c={connections}: {tessera.name} {t['per_cpu_s'] or 0:.1f} / {reference.name} "
            f"{r['per_cpu_s'] or 0:.1f} per CPU-second = {pair['ratio'] or 0:.2f}x")
        return pair

    def report_run(self, r):
        log(f"    {r['scenario']:<13} c={r['connections']:<3} {r['rps'] or 0:>9.1f} req/s  "
            f"p50 {r['p50_ms'] if r['p50_ms'] is not None else '-':>8} ms  p99 {r['p99_ms'] if r['p99_ms'] is not None else '-':>8} ms  "
            f"{r['per_cpu_s'] or 0:>9.1f} req/CPU-s  cpu {r['cpu_s']:.2f}s  errors {r['errors']}  "
            f"rss {r['rss_kib'] // 1024} MiB hwm {r['hwm_kib'] // 1024} MiB")

    def run_server(self, setup, scenarios, workdir):
        a = self.args
        log(f"== {setup.name} {setup.alg} on {setup.base}")
        inst = {"server": setup.name, "alg": setup.alg, "startup_ms": [], "scenarios": scenarios}
        try:
            setup.provision()
            # Measured starts, each with the data (dir or database) already there; the last
            # one stays up for the load.
            # Idle RSS after each of them (it moves by a few hundred KiB from start to start:
            # thread stacks and arenas touched during start-up); the median is reported.
            inst["idle_rss_all_kib"] = []
            for i in range(a.starts):
                ms = setup.server.start()
                inst["startup_ms"].append(round(ms, 1))
                time.sleep(a.idle_wait)
                inst["idle_rss_all_kib"].append(mem_kib(setup.server.pid)["VmRSS"])
                if i < a.starts - 1:
                    setup.server.stop()
            inst["idle_rss_kib"] = sorted(inst["idle_rss_all_kib"])[len(inst["idle_rss_all_kib"]) // 2]
            log(f"  first discovery after {inst['startup_ms']} ms; idle RSS {inst['idle_rss_kib'] / 1024:.1f} MiB")
            endpoints = http_json(setup.base, "GET", "/.well-known/openid-configuration")
            for s in scenarios:
                self.runs.extend(self.run_scenario(setup, endpoints, s, workdir))
                if s == "jwks" or (s == "cc" and "jwks" not in scenarios):
                    inst["peak_rss_cc_discovery_jwks_kib"] = mem_kib(setup.server.pid)["VmHWM"]
            inst["peak_rss_kib"] = mem_kib(setup.server.pid)["VmHWM"]
            inst["rss_end_kib"] = mem_kib(setup.server.pid)["VmRSS"]
        finally:
            setup.server.stop()
        self.instances.append(inst)


# --- ceilings -----------------------------------------------------------------------------------

def ceilings(args, pinning):
    """openssl speed (signatures per CPU-second; openssl divides by its user CPU time) and the
    argon2id tool, on the servers' CPU."""
    out = {}
    r = subprocess.run(["openssl", "speed", "-seconds", str(args.ceiling_seconds), "-mr",
                        "rsa2048", "ecdsap256", "ed25519"], capture_output=True, text=True,
                       timeout=args.ceiling_seconds * 20 + 60, preexec_fn=pinning.server_preexec())
    for line in r.stdout.splitlines():
        f = line.split(":")
        if line.startswith("+F2:") and f[2] == "2048":
            out["rsa2048_sign"], out["rsa2048_verify"] = float(f[3]), float(f[4])
        elif line.startswith("+F4:") and f[2] == "256":
            out["ecdsap256_sign"], out["ecdsap256_verify"] = float(f[3]), float(f[4])
        elif line.startswith("+F6:") and f[3] == "Ed25519":
            out["ed25519_sign"], out["ed25519_verify"] = float(f[4]), float(f[5])
    if not {"rsa2048_sign", "ecdsap256_sign", "ed25519_sign"} <= out.keys():
        raise RuntimeError(f"could not read openssl speed output: {r.stdout[-800:]} {r.stderr[-800:]}")
    r = subprocess.run([args.ceiling_tool, str(args.ceiling_seconds)], capture_output=True, text=True,
                       check=True, timeout=args.ceiling_seconds * 20 + 60, preexec_fn=pinning.server_preexec())
    a2 = json.loads(r.stdout.strip().splitlines()[-1])
    out["argon2id_hash"] = a2["per_cpu_s"]
    out["argon2id_detail"] = a2
    return out


PAIR_BLOCK_S = 0.25


class Alternation:
    """While active, the server (its whole process group) and the ceiling process take turns:
    one runs for PAIR_BLOCK_S while the other is stopped (SIGSTOP / SIGCONT). Both are left
    running at the end, whatever happens. A stopped server only delays answers (a quarter of a
    second, far inside the load generators' timeouts); CPU time accrues to neither while stopped."""

    def __init__(self, server_pid, ceiling_proc):
        self.server_group = os.getpgid(server_pid)
        self.ceiling = ceiling_proc
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _signal_ceiling(self, sig):
        try:
            self.ceiling.send_signal(sig)
        except ProcessLookupError:
            pass

    def _run(self):
        server_turn = False
        try:
            while not self.done.is_set():
                if server_turn:
                    self._signal_ceiling(signal.SIGSTOP)
                    os.killpg(self.server_group, signal.SIGCONT)
                else:
                    os.killpg(self.server_group, signal.SIGSTOP)
                    self._signal_ceiling(signal.SIGCONT)
                server_turn = not server_turn
                self.done.wait(PAIR_BLOCK_S)
        finally:
            self._resume_both()

    def _resume_both(self):
        try:
            os.killpg(self.server_group, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self._signal_ceiling(signal.SIGCONT)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=10)
        self._resume_both()
        return False


def start_paired_ceiling(args, pinning, key, seconds):
    """Starts one ceiling for `seconds` of wall time on the servers' CPU (measure_with_ceiling)."""
    if key == "rsa2048_sign":
        argv = ["openssl", "speed", "-seconds", str(seconds), "-mr", "rsa2048"]
    elif key == "argon2id_hash":
        argv = [args.ceiling_tool, str(seconds), "wall"]
    else:
        raise ValueError(key)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=pinning.server_preexec())


def finish_paired_ceiling(proc, key, seconds):
    """The ceiling's operations per CPU-second, once its timed part is over."""
    try:
        if key == "rsa2048_sign":
            # With -mr, openssl speed prints "+R1:<count>:2048:<user CPU seconds>" on stderr
            # when the signing phase ends; the verification phase after it is not needed.
            timer = threading.Timer(seconds * 10 + 60, proc.kill)
            timer.start()
            try:
                for line in proc.stderr:
                    f = line.strip().split(":")
                    if line.startswith("+R1:") and len(f) >= 4 and f[2] == "2048" and float(f[3]) > 0:
                        return int(f[1]) / float(f[3])
            finally:
                timer.cancel()
            raise RuntimeError("openssl speed ended without its +R1 line")
        out, err = proc.communicate(timeout=seconds * 10 + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"the argon2id ceiling tool failed: {err[-400:]}")
        return float(json.loads(out.strip().splitlines()[-1])["per_cpu_s"])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# --- machine ------------------------------------------------------------------------------------

def cmd_out(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip()
    except Exception:  # noqa: BLE001
        return ""


def machine(args):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    debian = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    op_version = ""
    try:
        with open(os.path.join(HERE, "oidc-provider", "node_modules", "oidc-provider", "package.json")) as f:
            op_version = json.load(f)["version"]
    except OSError:
        pass
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "debian": debian,
        "rustc": cmd_out(["rustc", "--version"]),
        "node": cmd_out([args.node, "--version"]), "oidc_provider": op_version,
        "wrk": cmd_out(["wrk", "-v"]).splitlines()[0] if cmd_out(["wrk", "-v"]) else "",
        "openssl": cmd_out(["openssl", "version"]),
        "python": platform.python_version(),
        "postgres": cmd_out(["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user, "-d", "postgres",
                             "-qAtc", "SHOW server_version"]),
        "redis": cmd_out(["redis-cli", "-h", args.redis_host, "-p", str(args.redis_port), "INFO", "server"]),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


def main():
    global log_file
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tessera", required=True, help="the release binary")
    p.add_argument("--node", required=True)
    p.add_argument("--ceiling-tool", required=True)
    p.add_argument("--out", required=True, help="directory for results.json and the server logs")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each scenario")
    p.add_argument("--connections", default="1,16,64")
    p.add_argument("--ceiling-seconds", type=int, default=5)
    p.add_argument("--paired-seconds", type=int, default=5,
                   help="length of the paired run that judges RS256 client credentials against the "
                        "rsa2048 ceiling (the login's is twice as long)")
    p.add_argument("--starts", type=int, default=3, help="measured starts per server")
    p.add_argument("--idle-wait", type=float, default=2.0, help="seconds after start before reading the idle RSS")
    p.add_argument("--workers", type=int, default=1, help="TESSERA_WORKERS (the server has one CPU when pinned)")
    p.add_argument("--servers", default="tessera-sqlite,tessera-pg,oidc-provider")
    p.add_argument("--algs", default="RS256,ES256")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    p.add_argument("--perf", default="", help="directory: perf record the server during each measured run")
    p.add_argument("--no-pin", action="store_true", help="do not pin servers to CPU 0 and load to CPU 1")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--redis-host", default="127.0.0.1")
    p.add_argument("--redis-port", type=int, default=6379)
    p.add_argument("--command", default="bench/run", help="the command line, for the report")
    p.add_argument("--commit", default="")
    p.add_argument("--mode", default="full")
    a = p.parse_args()
    a.connections = [int(x) for x in a.connections.split(",") if x]
    servers = [s for s in a.servers.split(",") if s]
    algs = [s for s in a.algs.split(",") if s]
    scenarios = [s for s in a.scenarios.split(",") if s]
    os.makedirs(a.out, exist_ok=True)
    log_file = open(os.path.join(a.out, "bench.log"), "w")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    bench = Bench(a)
    # This process (and so wrk and the login workers) runs on the load CPU.
    if bench.pinning.enabled:
        os.sched_setaffinity(0, bench.pinning.load)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    # The oidc-provider's user has the same password, hashed with the same parameters.
    a.op_password_hash = subprocess.run(
        [a.node, "-e", "const a=require(process.argv[1]);process.stdout.write(a.hashSync(process.argv[2],"
         "{algorithm:2,memoryCost:19456,timeCost:2,parallelism:1}))",
         os.path.join(HERE, "oidc-provider", "node_modules", "@node-rs", "argon2"), PASSWORD],
        capture_output=True, text=True, check=True, timeout=60).stdout
    assert a.op_password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), a.op_password_hash

    results = {"started": started.isoformat(timespec="seconds"), "command": a.command, "commit": a.commit,
               "mode": a.mode, "machine": machine(a),
               "settings": {"duration_s": a.duration, "warmup_s": a.warmup, "connections": a.connections,
                            "pinned": bench.pinning.enabled, "server_cpus": sorted(bench.pinning.server),
                            "load_cpus": sorted(bench.pinning.load), "tessera_workers": a.workers,
                            "starts": a.starts},
               "skipped": []}
    log(f"machine: {results['machine']['cpu']}, {results['machine']['cpus']} CPUs; pinned: {bench.pinning.enabled}")
    log("== ceilings")
    results["ceilings"] = ceilings(a, bench.pinning)
    c = results["ceilings"]
    log(f"  rsa2048 {c['rsa2048_sign']:.0f}/CPU-s, ecdsap256 {c['ecdsap256_sign']:.0f}/CPU-s, "
        f"ed25519 {c['ed25519_sign']:.0f}/CPU-s, argon2id {c['argon2id_hash']:.1f}/CPU-s")

    pg_problem = pg_redis_available(a) if "tessera-pg" in servers else None
    workdir = tempfile.mkdtemp(prefix="tessera-bench-")
    try:
        for server in servers:
            if server == "tessera-pg" and pg_problem:
                log(f"== SKIPPED tessera-pg: {pg_problem}")
                results["skipped"].append({"server": server, "reason": pg_problem})
                continue
            for alg in algs:
                sc = scenarios if alg == "RS256" else [s for s in scenarios if s in ES256_SCENARIOS]
                if server == "oidc-provider":
                    setup = OidcProviderSetup(a, alg, workdir, bench.pinning)
                else:
                    setup = TesseraSetup(a, server.split("-", 1)[1], alg, workdir, bench.pinning)
                try:
                    bench.run_server(setup, sc, workdir)
                finally:
                    setup.cleanup()
        results["side_by_side"] = []
        # The targets that compare Tessera with oidc-provider are judged side by side (the same
        # seconds); introspection and userinfo, at twice the threshold, on the separate runs.
        pairs = []
        if "ES256" in algs and "cc" in scenarios:
            pairs.append(("ES256", ["cc"]))
        if "RS256" in algs and any(sc in scenarios for sc in SIDE_BY_SIDE_STATIC):
            pairs.append(("RS256", [sc for sc in SIDE_BY_SIDE_STATIC if sc in scenarios]))
        if "oidc-provider" in servers and pairs:
            side = os.path.join(workdir, "side-by-side")
            os.makedirs(side)
            for server in servers:
                if not server.startswith("tessera-") or (server == "tessera-pg" and pg_problem):
                    continue
                for alg, scs in pairs:
                    log(f"== {server} and oidc-provider side by side: {alg} {', '.join(scs)}")
                    t = TesseraSetup(a, server.split("-", 1)[1], alg, side, bench.pinning)
                    o = OidcProviderSetup(a, alg, side, bench.pinning)
                    try:
                        t.provision()
                        t.server.start()
                        o.server.start()
                        for sc in scs:
                            results["side_by_side"].append(
                                bench.side_by_side(t, o, max(a.connections), 2 * a.duration, sc))
                    finally:
                        t.cleanup()
                        o.cleanup()
    finally:
        for f in os.listdir(workdir):
            if f.endswith(".log"):
                shutil.copy(os.path.join(workdir, f), os.path.join(a.out, f))
        shutil.rmtree(workdir, ignore_errors=True)
    results["runs"] = bench.runs
    results["instances"] = bench.instances
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    results["elapsed_s"] = round(time.monotonic() - t_start, 1)
    results["valid"] = (all(r["valid"] for r in bench.runs)
                        and all(p["valid"] for p in results["side_by_side"]))
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    invalid = [r for r in bench.runs + results["side_by_side"] if not r["valid"]]
    log(f"== done in {results['elapsed_s']} s: {len(bench.runs)} runs, {len(invalid)} invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
