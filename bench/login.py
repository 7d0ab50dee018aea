"""A browser-style sign-in over HTTP, for bench/bench.py (python3 standard library only).

One flow: GET the authorization endpoint (prompt=consent, PKCE S256) → follow any redirects to
the login page → POST the login form → the consent page (in the answer, or by a redirect) →
POST "allow" → the redirect to the client's redirect URI carries the code → POST it to the token
endpoint. Cookies are kept per flow (a fresh browser each time), keep-alive per worker. The forms
are read from the HTML (hidden inputs included), so the same code drives Tessera and the
oidc-provider reference.

Every response is checked against what the step expects (200 for a page and the token response,
302/303 for a redirect); anything else is an error and ends that flow.
"""

import base64
import hashlib
import html.parser
import http.client
import json
import secrets
import threading
import time
import urllib.parse

MAX_STEPS = 12


class FlowError(Exception):
    pass


class _Forms(html.parser.HTMLParser):
    """The first form of a page: action, method, and its fields (name → value)."""

    def __init__(self):
        super().__init__()
        self.form = None
        self.done = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.done:
            return
        if tag == "form" and self.form is None:
            self.form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                         "fields": {}, "password": False, "buttons": []}
        elif self.form is not None and tag == "input" and a.get("name"):
            if (a.get("type") or "text").lower() == "password":
                self.form["password"] = True
            self.form["fields"][a["name"]] = a.get("value") or ""
        elif self.form is not None and tag == "button" and a.get("name"):
            self.form["buttons"].append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self.form is not None:
            self.done = True


class Client:
    """One simulated browser connection (keep-alive) to one server."""

    def __init__(self, base, cfg, timeout=30.0):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.origin = f"{u.scheme}://{u.netloc}"
        self.cfg = cfg
        self.timeout = timeout
        self.conn = None
        self.requests = 0

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method, target, body=None, headers=None):
        """Sends one request; returns (status, headers dict with lower-case names and lists of values, body)."""
        h = {"Host": f"{self.host}:{self.port}", "User-Agent": "tessera-bench/1"}
        h.update(headers or {})
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=h)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed while idle: reconnect once.
                conn.close()
                self.conn = None
                if attempt:
                    raise
        self.requests += 1
        hdrs = {}
        for k, v in resp.getheaders():
            hdrs.setdefault(k.lower(), []).append(v)
        if resp.will_close:
            conn.close()
            self.conn = None
        return resp.status, hdrs, data

    def login_flow(self, endpoints, username, password, scope):
        """Runs one complete sign-in; returns the token response (dict)."""
        cfg = self.cfg
        jar = {}  # name -> (value, path)

        def cookie_header(path):
            pairs = [f"{n}={v}" for n, (v, p) in jar.items() if path.startswith(p or "/")]
            return {"Cookie": "; ".join(pairs)} if pairs else {}

        def remember(hdrs):
            for line in hdrs.get("set-cookie", []):
                parts = [p.strip() for p in line.split(";")]
                name, _, value = parts[0].partition("=")
                attrs = {}
                for p in parts[1:]:
                    k, _, v = p.partition("=")
                    attrs[k.lower()] = v
                if attrs.get("max-age") == "0" or (not value and "expires" in attrs):
                    jar.pop(name, None)
                else:
                    jar[name] = (value, attrs.get("path", "/"))

        def local(url):
            """Path + query of a same-origin URL (absolute or relative)."""
            full = urllib.parse.urljoin(self.origin + "/", url)
            u = urllib.parse.urlsplit(full)
            if f"{u.scheme}://{u.netloc}" != self.origin:
                raise FlowError(f"redirect to a foreign origin: {full}")
            return u.path + (("?" + u.query) if u.query else "")

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": cfg["client_id"], "redirect_uri": cfg["redirect_uri"],
            "scope": scope, "state": state, "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "consent",
        }, quote_via=urllib.parse.quote)
        target = local(endpoints["authorization_endpoint"]) + "?" + query
        method, body, extra = "GET", None, {}
        code = None
        for _ in range(MAX_STEPS):
            path = target.split("?", 1)[0]
            headers = dict(extra)
            headers.update(cookie_header(path))
            status, hdrs, data = self.request(method, target, body, headers)
            remember(hdrs)
            if status in (302, 303):
                loc = hdrs.get("location", [""])[0]
                if loc.startswith(cfg["redirect_uri"]):
                    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
                    if "code" not in q:
                        raise FlowError(f"redirect without a code: {loc[:200]}")
                    if q.get("state") != [state]:
                        raise FlowError("state mismatch")
                    code = q["code"][0]
                    break
                target, method, body, extra = local(loc), "GET", None, {}
                continue
            if status != 200:
                raise FlowError(f"{method} {path}: unexpected status {status}: {data[:200]!r}")
            # A page: after a GET, or in the answer to a form (Tessera answers the login form
            # with the consent page, as Keycloak does; oidc-provider redirects to it).
            parser = _Forms()
            parser.feed(data.decode("utf-8", "replace"))
            form = parser.form
            if not form or form["method"] != "post":
                raise FlowError(f"{method} {path}: no form on the page")
            fields = dict(form["fields"])
            if form["password"]:
                if method == "POST":
                    raise FlowError(f"POST {path}: the login form again (sign-in refused)")
                fields["username"] = username
                fields["password"] = password
            else:
                allow = [b for b in form["buttons"] if b[1] == "allow"]
                if not allow:
                    raise FlowError(f"{method} {path}: neither a login nor a consent form")
                fields[allow[0][0]] = allow[0][1]
            body = urllib.parse.urlencode(fields)
            extra = {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin}
            target, method = local(urllib.parse.urljoin(self.origin + path, form["action"])), "POST"
        if code is None:
            raise FlowError("no code after %d steps" % MAX_STEPS)
        basic = base64.b64encode(f"{cfg['client_id']}:{cfg['client_secret']}".encode()).decode()
        status, hdrs, data = self.request(
            "POST", local(endpoints["token_endpoint"]),
            urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": cfg["redirect_uri"], "code_verifier": verifier}),
            {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + basic})
        if status != 200:
            raise FlowError(f"token: unexpected status {status}: {data[:200]!r}")
        return json.loads(data)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(base, endpoints, cfg, username, password, scope, connections, duration, max_flows=None):
    """Runs complete sign-ins on `connections` parallel workers for `duration` seconds (or until
    `max_flows` flows have started). Returns a summary like bench/wrk.lua's."""
    deadline = time.monotonic() + duration
    lock = threading.Lock()
    latencies, errors, started = [], [], [0]
    results = []
    requests = [0]

    def worker():
        c = Client(base, cfg, timeout=max(10.0, duration + 5))
        try:
            while time.monotonic() < deadline:
                with lock:
                    if max_flows is not None and started[0] >= max_flows:
                        break
                    started[0] += 1
                t0 = time.monotonic()
                try:
                    tokens = c.login_flow(endpoints, username, password, scope)
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:300])
                    c.close()
                    continue
                dt = time.monotonic() - t0
                with lock:
                    latencies.append(dt)
                    results.append(tokens)
        finally:
            with lock:
                requests[0] += c.requests
            c.close()

    t_start = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 60)
    elapsed = time.monotonic() - t_start
    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] * 1e6

    return {
        "requests": len(latencies),
        "http_requests": requests[0],
        "duration_us": elapsed * 1e6,
        "errors": {"flow": len(errors)},
        "unexpected": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "p50_us": pct(50),
        "p99_us": pct(99),
        "tokens": results,
    }
