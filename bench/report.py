#!/usr/bin/env python3
"""Turns bench/bench.py's results.json into a CSV and the results section of docs/BENCHMARKS.md.

    python3 bench/report.py RESULTS.json --markdown docs/BENCHMARKS.md --csv bench/results.csv

Only the part of the Markdown file between the `<!-- results:begin -->` and
`<!-- results:end -->` markers is replaced, so the hand-written analysis around it stays; a
missing file is created with the markers. Python 3 standard library only.
"""

import argparse
import csv
import json
import os
import sys

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

SERVERS = ["tessera-sqlite", "tessera-pg", "oidc-provider"]
SERVER_LABEL = {"tessera-sqlite": "Tessera, embedded (SQLite)", "tessera-pg": "Tessera, PostgreSQL + Redis",
                "oidc-provider": "oidc-provider"}
SHORT = {"tessera-sqlite": "Tessera SQLite", "tessera-pg": "Tessera PG+Redis", "oidc-provider": "oidc-provider"}

SCENARIOS = [
    ("cc", "RS256", "Client credentials, RS256 access token", "rsa2048_sign", "rsa2048 signatures"),
    ("cc", "ES256", "Client credentials, ES256 access token", "ecdsap256_sign", "ecdsap256 signatures"),
    ("discovery", "RS256", "Discovery document", None, None),
    ("jwks", "RS256", "JWKS", None, None),
    ("introspection", "RS256", "Introspection of an access token", None, None),
    ("userinfo", "RS256", "Userinfo with a bearer access token", None, None),
    ("refresh", "RS256", "Refresh grant (rotation: new access, ID and refresh token)", None, None),
    ("login", "RS256", "Complete browser-style login (per flow)", "argon2id_hash", "argon2id hashes"),
]
NOTES = {
    "introspection": "Tessera introspects its RFC 9068 JWT access token: expiry, issuer, client, revocation (an "
                     "in-memory set of revoked jtis kept in step with SQL) and the user (an in-memory cache); the "
                     "signature is checked the first time this node sees the token and then remembered for the exact "
                     "token text (the run presents one token again and again). oidc-provider introspects its native "
                     "opaque access token (a lookup in its in-memory adapter).",
    "userinfo": "Tessera: a JWT access token, checked as for introspection (signature remembered per exact token, "
                "revocation and user from memory); oidc-provider: its native opaque access token (in-memory "
                "lookup).",
    "refresh": "Both rotate the refresh token on every use and sign a new ID token (RS256); Tessera's access "
               "token is a signed JWT, oidc-provider's an opaque one. Each connection chains its own tokens.",
    "login": "One flow = GET authorize (prompt=consent, PKCE) → the login form → POST login → GET consent → "
             "POST allow → code → POST token, with a fresh cookie jar, following every redirect: 5 HTTP requests "
             "on Tessera (its authorization endpoint answers with the login form itself), 8 on oidc-provider "
             "(which redirects to its interaction pages and back). Both check the password "
             "with argon2id m=19456 KiB, t=2, p=1 (oidc-provider through @node-rs/argon2, built on the "
             "`argon2-rust` crate, which is faster per hash than RustCrypto's `argon2` that Tessera uses and "
             "the ceiling measures). Latencies are per flow.",
    "cc": "No database write per token on either server.",
}


def f(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def mib(kib):
    return None if kib is None else kib / 1024


def load(path):
    with open(path) as fh:
        return json.load(fh)


def index_runs(res):
    return {(r["server"], r["alg"], r["scenario"], r["connections"]): r for r in res.get("runs", [])}


def ceiling_for(res, scenario, alg):
    for sc, a, _, key, _ in SCENARIOS:
        if sc == scenario and a == alg and key:
            return key, res["ceilings"].get(key)
    return None, None


def judged(res, r, scenario, alg):
    """(key, server req/CPU-s, ceiling per CPU-second, ratio, paired) a run is judged on: its
    paired run when it has one (bench.py measure_with_ceiling: the same load while the server and
    the ceiling take turns on the server's CPU), else its own figure against the ceiling from the start of the run.
    """
    key, ceil = ceiling_for(res, scenario, alg)
    p = (r or {}).get("ceiling_paired")
    if key and p and p.get("key") == key:
        return key, p["server_per_cpu_s"], p["ceiling"], ratio(p["server_per_cpu_s"], p["ceiling"]), True
    own = r and r.get("per_cpu_s")
    return key, own, ceil, ratio(own, ceil), False


def write_csv(res, path):
    runs = index_runs(res)
    cols = ["server", "alg", "scenario", "connections", "requests", "duration_s", "rps", "p50_ms", "p99_ms",
            "cpu_s", "per_cpu_s", "db_cpu_s", "per_cpu_s_incl_db", "errors", "valid", "rss_mib", "peak_rss_mib",
            "ratio_rps_vs_oidc_provider", "ratio_per_cpu_s_vs_oidc_provider",
            "ratio_p50_vs_oidc_provider", "ratio_p99_vs_oidc_provider",
            "ceiling", "ceiling_per_cpu_s", "paired_server_per_cpu_s", "ratio_per_cpu_s_vs_ceiling",
            "error_detail"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for (server, alg, sc, c), r in sorted(runs.items(), key=lambda kv: (
                SERVERS.index(kv[0][0]) if kv[0][0] in SERVERS else 9, kv[0][1], kv[0][2], kv[0][3])):
            op = runs.get(("oidc-provider", alg, sc, c)) if server != "oidc-provider" else None
            key, judged_own, ceil, judged_ratio, paired = judged(res, r, sc, alg)
            row = {**r, "rss_mib": round(mib(r["rss_kib"]), 1), "peak_rss_mib": round(mib(r["hwm_kib"]), 1),
                   "error_detail": json.dumps(r.get("error_detail", {})) if r.get("error_detail") else ""}
            if op:
                for k, src in (("ratio_rps_vs_oidc_provider", "rps"), ("ratio_per_cpu_s_vs_oidc_provider", "per_cpu_s"),
                               ("ratio_p50_vs_oidc_provider", "p50_ms"), ("ratio_p99_vs_oidc_provider", "p99_ms")):
                    v = ratio(r.get(src), op.get(src))
                    row[k] = round(v, 3) if v is not None else ""
            if key and server != "oidc-provider" or (key and server == "oidc-provider"):
                row["ceiling"], row["ceiling_per_cpu_s"] = key, ceil
                row["paired_server_per_cpu_s"] = judged_own if paired else ""
                v = judged_ratio
                row["ratio_per_cpu_s_vs_ceiling"] = round(v, 3) if v is not None else ""
            w.writerow([row.get(k, "") for k in cols])
        # One row per side-by-side run (bench.py side_by_side).
        if res.get("side_by_side"):
            w.writerow([])
            w.writerow(["side_by_side", "alg", "scenario", "connections", "tessera_requests", "tessera_cpu_s",
                        "tessera_per_cpu_s", "oidc_provider_requests", "oidc_provider_cpu_s",
                        "oidc_provider_per_cpu_s", "ratio_per_cpu_s_vs_oidc_provider", "valid"])
            for p in res["side_by_side"]:
                t, o = p["tessera"], p["reference"]
                w.writerow([t["server"], p["alg"], p.get("scenario", "cc"), p["connections"], t["requests"],
                            t["cpu_s"], t["per_cpu_s"], o["requests"], o["cpu_s"], o["per_cpu_s"], p["ratio"],
                            p["valid"]])
        # One row per server start: startup time and memory.
        w.writerow([])
        w.writerow(["server", "alg", "startup_ms_median", "startup_ms_all", "idle_rss_mib",
                    "peak_rss_cc_discovery_jwks_mib", "peak_rss_mib"])
        for inst in res.get("instances", []):
            s = sorted(inst["startup_ms"])
            w.writerow([inst["server"], inst["alg"], s[len(s) // 2] if s else "", " ".join(map(str, inst["startup_ms"])),
                        round(mib(inst.get("idle_rss_kib")) or 0, 1),
                        round(mib(inst.get("peak_rss_cc_discovery_jwks_kib")) or 0, 1),
                        round(mib(inst.get("peak_rss_kib")) or 0, 1)])


def side_by_side(res, server, scenario):
    """The side-by-side run of `scenario` on `server` and oidc-provider, if any."""
    return next((p for p in res.get("side_by_side", [])
                 if p["tessera"]["server"] == server and p.get("scenario", "cc") == scenario), None)


def targets(res):
    """[(target, server, measured text, threshold text, verdict)] evaluated at the highest
    connection count."""
    runs = index_runs(res)
    conns = max(res["settings"]["connections"])
    ce = res["ceilings"]
    inst = {(i["server"], i["alg"]): i for i in res.get("instances", [])}
    out = []

    def run(server, alg, sc):
        return runs.get((server, alg, sc, conns))

    def verdict(ok, *rs):
        if any(r is None for r in rs):
            return "not measured"
        if not all(r["valid"] for r in rs):
            return "INVALID RUN"
        return "pass" if ok else "**FAIL**"

    for server in ("tessera-sqlite", "tessera-pg"):
        label = SHORT[server]
        r = run(server, "RS256", "cc")
        _, own, cv, v, paired = judged(res, r, "cc", "RS256")
        out.append(("Client credentials RS256 ≥ 90 % of the rsa2048 signing ceiling", label,
                    f"{f(own)} / {f(cv)} = {f(v and v * 100, 1)} %" + (" (paired run)" if paired else ""),
                    "≥ 90 %", verdict(v is not None and v >= 0.90, r)))
        r, o = run(server, "ES256", "cc"), run("oidc-provider", "ES256", "cc")
        v = ratio(r and r["per_cpu_s"], o and o["per_cpu_s"])
        p = side_by_side(res, server, "cc")
        if p:
            # Judged on the run side by side (the same seconds); the separate runs for reference.
            out.append(("Client credentials ES256 ≥ 8× oidc-provider", label,
                        f"{f(p['tessera']['per_cpu_s'])} vs {f(p['reference']['per_cpu_s'])} = {f(p['ratio'], 2)}× "
                        f"(side by side; separate runs {f(v, 2)}×)", "≥ 8×",
                        verdict(p["ratio"] is not None and p["ratio"] >= 8, p)))
        else:
            out.append(("Client credentials ES256 ≥ 8× oidc-provider", label,
                        f"{f(r and r['per_cpu_s'])} vs {f(o and o['per_cpu_s'])} = {f(v, 2)}×", "≥ 8×",
                        verdict(v is not None and v >= 8, r, o)))
        for sc, name in (("discovery", "Discovery"), ("jwks", "JWKS"), ("introspection", "Introspection (JWT vs opaque)"),
                         ("userinfo", "Userinfo (JWT vs opaque)")):
            r, o = run(server, "RS256", sc), run("oidc-provider", "RS256", sc)
            v = ratio(r and r["per_cpu_s"], o and o["per_cpu_s"])
            p = side_by_side(res, server, sc)
            if p:
                out.append((f"{name} ≥ 5× oidc-provider", label,
                            f"{f(p['tessera']['per_cpu_s'])} vs {f(p['reference']['per_cpu_s'])} = "
                            f"{f(p['ratio'], 2)}× (side by side; separate runs {f(v, 2)}×)", "≥ 5×",
                            verdict(p["ratio"] is not None and p["ratio"] >= 5, p)))
                continue
            out.append((f"{name} ≥ 5× oidc-provider", label,
                        f"{f(r and r['per_cpu_s'])} vs {f(o and o['per_cpu_s'])} = {f(v, 2)}×", "≥ 5×",
                        verdict(v is not None and v >= 5, r, o)))
        r = run(server, "RS256", "login")
        _, own, cv, v, paired = judged(res, r, "login", "RS256")
        out.append(("Complete login ≥ 85 % of the argon2id ceiling", label,
                    f"{f(own, 2)} / {f(cv, 2)} = {f(v and v * 100, 1)} %" + (" (paired run)" if paired else ""),
                    "≥ 85 %", verdict(v is not None and v >= 0.85, r)))
    for server in ("tessera-sqlite", "tessera-pg"):
        label = SHORT[server]
        for alg in ("RS256", "ES256"):
            i = inst.get((server, alg))
            if not i:
                continue
            idle = mib(i.get("idle_rss_kib"))
            # The RSS targets are about the embedded default; PostgreSQL + Redis is shown for
            # information.
            over = "**FAIL**" if server == "tessera-sqlite" else "over (info: the target is for the embedded default)"
            every = ", ".join(f(mib(k)) for k in i.get("idle_rss_all_kib", []))
            out.append((f"Idle RSS ≤ 20 MiB ({alg} server)", label,
                        f"{f(idle)} MiB" + (f" (median of {every})" if every else ""), "≤ 20 MiB",
                        "pass" if idle is not None and idle <= 20 else over))
            peak = mib(i.get("peak_rss_cc_discovery_jwks_kib"))
            what = "cc, discovery, JWKS" if alg == "RS256" else "cc"
            out.append((f"Peak RSS ≤ 64 MiB through the {what} runs ({alg} server)", label, f"{f(peak)} MiB",
                        "≤ 64 MiB", "pass" if peak is not None and peak <= 64 else over))
            s = sorted(i["startup_ms"])
            med = s[len(s) // 2] if s else None
            out.append((f"First discovery response ≤ 100 ms after start, existing data ({alg} server)", label,
                        f"median {f(med)} ms (all: {', '.join(f(x) for x in i['startup_ms'])})", "≤ 100 ms",
                        "pass" if med is not None and med <= 100 else "**FAIL**"))
    return out


def markdown(res):
    m = res["machine"]
    st = res["settings"]
    runs = index_runs(res)
    ce = res["ceilings"]
    L = []
    L.append(f"Run of {res['started']} (UTC), commit `{res.get('commit') or '?'}`, mode **{res['mode']}**, "
             f"{res.get('elapsed_s', 0) / 60:.1f} minutes. Command: `{res['command']}`.")
    L.append("")
    valid = res.get("valid")
    L.append("**All runs valid** (no error response, no unexpected status, no socket error)." if valid else
             "**Some runs are INVALID** (they had errors): they are marked in the tables and fail their targets.")
    L.append("")
    L.append("**Machine.** " + f"{m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB; Linux {m['kernel']}, "
             f"Debian {m['debian']}; {m['rustc']}; Node {m['node']} with oidc-provider {m['oidc_provider']}; "
             f"{m['wrk']}; {m['openssl']}; PostgreSQL {m.get('postgres') or '–'}; "
             f"Redis {_redis_version(m.get('redis', ''))}; Python {m['python']}. "
             f"Load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(m.get('loadavg_end', []))} "
             "(the machine is shared: requests per CPU-second is the figure that stays meaningful).")
    L.append("")
    pin = (f"servers pinned to CPU {st['server_cpus']}, wrk and the login driver to CPU {st['load_cpus']}"
           if st["pinned"] else "no CPU pinning")
    L.append(f"**Settings.** {st['duration_s']:g} s per measured run after {st['warmup_s']:g} s of unmeasured "
             f"warm-up per scenario; {', '.join(map(str, st['connections']))} keep-alive connections; {pin}; "
             f"TESSERA_WORKERS={st['tessera_workers']}; {st['starts']} measured starts per server.")
    if res.get("skipped"):
        L.append("")
        for s in res["skipped"]:
            L.append(f"**Skipped:** {s['server']}: {s['reason']}")
    L.append("")

    L.append(f"### Targets (at {max(st['connections'])} connections; figures in requests per server CPU-second)")
    L.append("")
    L.append("| target | server | measured | threshold | verdict |")
    L.append("|---|---|---|---|---|")
    for t in targets(res):
        L.append("| " + " | ".join(t) + " |")
    L.append("")

    L.append("### Ceilings (same run, on the servers' CPU)")
    L.append("")
    L.append("| operation | per CPU-second | source |")
    L.append("|---|---:|---|")
    L.append(f"| RSA-2048 signatures (RS256) | {f(ce['rsa2048_sign'])} | `openssl speed rsa2048` |")
    L.append(f"| ECDSA P-256 signatures (ES256) | {f(ce['ecdsap256_sign'])} | `openssl speed ecdsap256` |")
    L.append(f"| Ed25519 signatures (EdDSA) | {f(ce['ed25519_sign'])} | `openssl speed ed25519` |")
    d = ce.get("argon2id_detail", {})
    L.append(f"| argon2id hashes, m=19456 KiB, t=2, p=1 | {f(ce['argon2id_hash'], 2)} | bench/ceiling "
             f"({d.get('crate', 'argon2')}, as Tessera) |")
    L.append("")

    L.append("### Results")
    L.append("")
    L.append("req/CPU-s = requests per server CPU-second (utime + stime of the server process from /proc/PID/stat, "
             "before and after the run); \"incl. PG+Redis\" also counts the CPU of the PostgreSQL backends serving "
             "the bench database and of redis-server (SQLite and oidc-provider's memory adapter are in-process). \"÷ op\" = Tessera ÷ oidc-provider, same scenario and connections "
             "(requests per CPU-second). \"÷ ceiling\" = requests per CPU-second ÷ the ceiling named for the scenario; "
             "for RS256 client credentials and the login it comes from a **paired run** after each run: the same "
             "load again while the server and the ceiling (openssl speed, bench/ceiling) take turns on the server's CPU, "
             "a quarter of a second each, each measured per CPU-second of its own over the same seconds (given in "
             "brackets: server / ceiling), because on this shared machine what a CPU-second buys drifts by 10-30 % "
             "within seconds, so that a ceiling measured even right before or after a run compares the server with "
             "another machine.")
    L.append("")
    for sc, alg, title, ckey, cname in SCENARIOS:
        if not any(k[1] == alg and k[2] == sc for k in runs):
            continue
        L.append(f"#### {title}")
        L.append("")
        if sc in NOTES:
            L.append(NOTES[sc])
            L.append("")
        head = "| conns | server | req/s | p50 ms | p99 ms | req/CPU-s | ÷ op | req/CPU-s incl. PG+Redis |"
        sep = "|---:|---|---:|---:|---:|---:|---:|---:|"
        if ckey:
            head += f" ÷ ceiling ({cname}, {f(ce.get(ckey), 1 if ckey == 'argon2id_hash' else 0)}) |"
            sep += "---:|"
        head += " errors |"
        sep += "---:|"
        L.append(head)
        L.append(sep)
        for c in st["connections"]:
            for server in SERVERS:
                r = runs.get((server, alg, sc, c))
                if not r:
                    continue
                op = runs.get(("oidc-provider", alg, sc, c)) if server != "oidc-provider" else None
                rv = ratio(r["per_cpu_s"], op and op["per_cpu_s"])
                nd = 2 if sc == "login" else 1
                cells = [str(c), SHORT[server], f(r["rps"], nd), f(r["p50_ms"], 2), f(r["p99_ms"], 2),
                         f(r["per_cpu_s"], nd), (f(rv, 2) + "×") if rv is not None else "",
                         f(r["per_cpu_s_incl_db"], nd) if r.get("per_cpu_s_incl_db") is not None else ""]
                if ckey:
                    _, own, rc, cv, paired = judged(res, r, sc, alg)
                    nd_c = 1 if ckey == "argon2id_hash" else 0
                    cells.append((f"{cv * 100:.1f} %" if cv is not None else "")
                                 + (f" (paired: {f(own, nd_c)} / {f(rc, nd_c)})" if paired else ""))
                err = str(r["errors"])
                if not r["valid"]:
                    err = f"**{r['errors']} INVALID** {json.dumps(r.get('error_detail', {}))}"
                cells.append(err)
                L.append("| " + " | ".join(cells) + " |")
        L.append("")

    if res.get("side_by_side"):
        L.append("#### Side by side with oidc-provider (ES256 client credentials, discovery, JWKS)")
        L.append("")
        L.append("These targets compare two servers, which the runs above measure minutes apart. Here each "
                 "Tessera server and oidc-provider run at the same time, each under its own load at the highest "
                 "connection count, and take turns on the servers' CPU a quarter of a second each (the other one "
                 "stopped), each measured per CPU-second of its own over the same seconds; the targets are judged "
                 "on these ratios.")
        L.append("")
        L.append("| scenario | conns | Tessera | requests | CPU s | req/CPU-s | oidc-provider requests | CPU s "
                 "| req/CPU-s | ÷ op | errors |")
        L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in res["side_by_side"]:
            t, o = p["tessera"], p["reference"]
            err = f"{t['errors']} / {o['errors']}"
            if not p["valid"]:
                err = f"**INVALID** {json.dumps({**t.get('error_detail', {}), **o.get('error_detail', {})})}"
            what = {"cc": "client credentials"}.get(p.get("scenario", "cc"), p.get("scenario", "cc"))
            L.append(f"| {what} ({p['alg']}) | {p['connections']} | {SHORT[t['server']]} | {f(t['requests'], 0)} | {f(t['cpu_s'], 2)} | "
                     f"{f(t['per_cpu_s'])} | {f(o['requests'], 0)} | {f(o['cpu_s'], 2)} | {f(o['per_cpu_s'])} | "
                     f"{f(p['ratio'], 2)}× | {err} |")
        L.append("")

    L.append("### Memory and start-up")
    L.append("")
    L.append("Idle RSS: VmRSS a moment after the first discovery response, before any load (median over the measured "
             "starts; all values in the CSV). Peak RSS: VmHWM after "
             "the client-credentials, discovery and JWKS runs (all connection counts), and at the end of all runs. "
             "Start-up: from spawning the process to the first 200 from discovery, with the data (directory or "
             "database) already there — median of the measured starts.")
    L.append("")
    L.append("| server | access tokens | first discovery (ms) | idle RSS (MiB) | peak RSS, cc/discovery/JWKS (MiB) | peak RSS, all runs (MiB) |")
    L.append("|---|---|---:|---:|---:|---:|")
    for inst in res.get("instances", []):
        s = sorted(inst["startup_ms"])
        L.append(f"| {SHORT[inst['server']]} | {inst['alg']} | {f(s[len(s) // 2] if s else None)} "
                 f"({', '.join(f(x) for x in inst['startup_ms'])}) | {f(mib(inst.get('idle_rss_kib')))} | "
                 f"{f(mib(inst.get('peak_rss_cc_discovery_jwks_kib')))} | {f(mib(inst.get('peak_rss_kib')))} |")
    L.append("")
    return "\n".join(L)


def _redis_version(info):
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return "–"


TEMPLATE = """# Benchmarks

Generated by `bench/run` (see the README's "Benchmarks" section); the section between the markers
is rewritten by each full run.

{begin}
{end}
"""


def write_markdown(res, path):
    body = markdown(res)
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
    else:
        text = TEMPLATE.format(begin=BEGIN, end=END)
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as fh:
        fh.write(head + BEGIN + "\n" + body + "\n" + END + tail)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--markdown", required=True)
    p.add_argument("--csv", required=True)
    a = p.parse_args()
    res = load(a.results)
    write_csv(res, a.csv)
    write_markdown(res, a.markdown)
    print(markdown(res).split("### Ceilings")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
