#!/usr/bin/env python3
"""A reverse proxy that injects faults between a registry client and a registry, for tests.

Listens with plain HTTP on 127.0.0.1 and forwards every request to --upstream (http:// or
https://; an https upstream is verified with --ca). Requests and responses pass unchanged except:
  - hop-by-hop headers are dropped and the request body is re-framed with Content-Length (a
    chunked upload arrives upstream as the same bytes with a length);
  - Host is set to the upstream's, and a Location header that points at the upstream is
    rewritten to point at the proxy (http://PROXY_HOST/...), so uploads continue through it.
The WWW-Authenticate realm is left alone: token requests go straight to the issuer.

Fault rules (JSON list) are tried in order for every request; the first live rule that matches
applies, and only that one. A rule matches on
  "method": exact HTTP method (optional), "path": Python regex searched in the request target,
  query included (optional),
and counts down "times" (optional: absent means forever; a rule at 0 is spent). Actions:
  {"action": "status", "status": 503[, "retry_after": 1][, "body": "..."][, "headers": {...}]}
      answer with that status without contacting the upstream (a distribution-style JSON error
      body unless "body" is given; Retry-After when "retry_after" is given; "headers" adds
      more, e.g. a Content-Type, to play a registry that serves something odd).
  {"action": "drop", "after_bytes": N}
      forward, send the upstream's status and headers (Content-Length unchanged) and the first N
      body bytes, then close the connection.
  {"action": "close"}
      close the connection without answering (the upstream is not contacted).
  {"action": "corrupt", "offset": N}
      forward, flipping every bit of body byte N (counted in this response's body).
  {"action": "swap_body", "with_path": "/v2/r/blobs/sha256:..."}
      forward, but answer with the status, headers and body of the same request made for
      with_path (Range included), keeping this response's Docker-Content-Digest header.
  {"action": "delay", "seconds": 0.5}
      wait, then forward normally.

Control endpoints on the proxy itself (never forwarded, never logged):
  PUT /__proxy/rules     replace the rules (a JSON list); POST appends; GET lists them with
                         their remaining "times"; DELETE clears them.
  GET /__proxy/log       every request forwarded or faulted, oldest first: {"seq", "method",
                         "path", "range", "authorization" (bool: was one presented; the value is
                         never recorded), "status" (sent to the client; 0 when none was),
                         "fault" (the action applied, or null), "rule" (its index, or null),
                         "bytes" (body bytes sent to the client)}.
  DELETE /__proxy/log    clears it.
"""

import argparse
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving import announce_and_serve

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}
ACTIONS = {"status", "drop", "close", "corrupt", "swap_body", "delay"}
CHUNK = 64 * 1024


class RuleError(ValueError):
    pass


def validate_rule(rule):
    if not isinstance(rule, dict):
        raise RuleError("a rule must be a JSON object")
    action = rule.get("action")
    if action not in ACTIONS:
        raise RuleError("unknown action %r (one of %s)" % (action, ", ".join(sorted(ACTIONS))))
    known = {"action", "method", "path", "times", "status", "retry_after", "body", "headers",
             "after_bytes", "offset", "with_path", "seconds"}
    unknown = set(rule) - known
    if unknown:
        raise RuleError("unknown rule keys: %s" % ", ".join(sorted(unknown)))
    if "times" in rule and (not isinstance(rule["times"], int) or rule["times"] < 0):
        raise RuleError("times must be an integer >= 0")
    if "path" in rule:
        try:
            re.compile(rule["path"])
        except re.error as e:
            raise RuleError("bad path regex %r: %s" % (rule["path"], e))
    required = {"status": ("status", int), "drop": ("after_bytes", int),
                "corrupt": ("offset", int), "swap_body": ("with_path", str),
                "delay": ("seconds", (int, float))}
    if "headers" in rule and (not isinstance(rule["headers"], dict) or
                              not all(isinstance(v, str) for v in rule["headers"].values())):
        raise RuleError("headers must be an object of strings")
    if action in required:
        key, kind = required[action]
        if not isinstance(rule.get(key), kind) or isinstance(rule.get(key), bool):
            raise RuleError("action %s needs %r" % (action, key))
    return dict(rule)


class State:
    def __init__(self, upstream, ca, public_host):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.upstream_base = "%s://%s" % (self.upstream.scheme, self.upstream.netloc)
        self.public_base = "http://%s" % public_host
        self.ssl_context = None
        if self.upstream.scheme == "https":
            self.ssl_context = ssl.create_default_context(cafile=ca)
        self.lock = threading.Lock()
        self.rules = []
        self.log = []
        self.seq = 0

    def take_rule(self, method, target):
        """The first live rule matching, with its index, its count taken down."""
        with self.lock:
            for i, rule in enumerate(self.rules):
                if rule.get("times", 1) <= 0:
                    continue
                if "method" in rule and rule["method"].upper() != method:
                    continue
                if "path" in rule and not re.search(rule["path"], target):
                    continue
                if "times" in rule:
                    rule["times"] -= 1
                return i, dict(rule)
        return None, None

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)

    def connect(self):
        host = self.upstream.hostname
        port = self.upstream.port
        if self.ssl_context is not None:
            return http.client.HTTPSConnection(host, port, timeout=60, context=self.ssl_context)
        return http.client.HTTPConnection(host, port, timeout=60)

    def rewrite_location(self, value):
        if value.startswith(self.upstream_base):
            return self.public_base + value[len(self.upstream_base):]
        return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hoist-test-faultproxy/1"

    def log_message(self, fmt, *args):  # quiet: the request log is /__proxy/log
        pass

    @property
    def state(self):
        return self.server.state

    def do_GET(self):
        self.handle_any()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def read_request_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts), True
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length > 0 else b""), length > 0

    def send_simple(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def abort_connection(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- control ---------------------------------------------------------------------------

    def control(self, path):
        body, _ = self.read_request_body()
        st = self.state
        if path == "/__proxy/rules":
            if self.command in ("PUT", "POST"):
                try:
                    rules = json.loads(body or b"[]")
                    if isinstance(rules, dict):
                        rules = [rules]
                    if not isinstance(rules, list):
                        raise RuleError("expected a JSON list of rules")
                    rules = [validate_rule(r) for r in rules]
                except (ValueError, RuleError) as e:
                    return self.send_simple(400, json.dumps({"error": str(e)}).encode())
                with st.lock:
                    if self.command == "PUT":
                        st.rules = rules
                    else:
                        st.rules.extend(rules)
                    out = list(st.rules)
                return self.send_simple(200, json.dumps(out).encode())
            if self.command == "DELETE":
                with st.lock:
                    st.rules = []
                return self.send_simple(200, b"[]")
            if self.command == "GET":
                with st.lock:
                    out = json.dumps(st.rules).encode()
                return self.send_simple(200, out)
        elif path == "/__proxy/log":
            if self.command == "GET":
                with st.lock:
                    out = json.dumps(st.log).encode()
                return self.send_simple(200, out)
            if self.command == "DELETE":
                with st.lock:
                    st.log = []
                return self.send_simple(200, b"[]")
        return self.send_simple(404, json.dumps({"error": "no such control endpoint"}).encode())

    # --- proxying ---------------------------------------------------------------------------

    def handle_any(self):
        target = self.path
        path_only = urllib.parse.urlsplit(target).path
        if path_only.startswith("/__proxy/"):
            return self.control(path_only)
        body, had_body = self.read_request_body()
        entry = {"method": self.command, "path": target, "range": self.headers.get("Range"),
                 "authorization": self.headers.get("Authorization") is not None,
                 "status": 0, "fault": None, "rule": None, "bytes": 0}
        index, rule = self.state.take_rule(self.command, target)
        action = rule["action"] if rule else None
        if rule:
            entry["fault"], entry["rule"] = action, index
        try:
            if action == "status":
                self.fault_status(rule, entry)
            elif action == "close":
                self.abort_connection()
            else:
                if action == "delay":
                    time.sleep(float(rule["seconds"]))
                self.forward(target, body, had_body, rule if action != "delay" else None, entry)
        except (OSError, http.client.HTTPException) as e:
            entry["error"] = str(e)
            if entry["status"] == 0:
                try:
                    self.send_simple(502, json.dumps({"errors": [{
                        "code": "UNAVAILABLE", "message": "faultproxy: upstream: %s" % e}]}).encode())
                    entry["status"] = 502
                except OSError:
                    pass
            self.close_connection = True
        finally:
            self.state.record(entry)

    def fault_status(self, rule, entry):
        status = rule["status"]
        if "body" in rule:
            body = rule["body"].encode()
        else:
            body = json.dumps({"errors": [{"code": "UNAVAILABLE" if status >= 500 else "TOOMANYREQUESTS"
                                           if status == 429 else "DENIED",
                                           "message": "injected fault %d" % status}]}).encode()
        extra = []
        if "retry_after" in rule:
            extra.append(("Retry-After", str(rule["retry_after"])))
        content_type = "application/json"
        for k, v in rule.get("headers", {}).items():
            if k.lower() == "content-type":
                content_type = v
            else:
                extra.append((k, v))
        self.send_simple(status, body, content_type=content_type, extra=extra)
        entry["status"] = status
        entry["bytes"] = 0 if self.command == "HEAD" else len(body)

    def upstream_request(self, method, target, body, had_body):
        # Header by header: a client may send one name several times (Accept, say).
        conn = self.state.connect()
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", self.state.upstream.netloc)
        for k, v in self.headers.items():
            # Expect: 100-continue was answered here; the body is already in hand.
            if k.lower() in HOP_BY_HOP or k.lower() in ("host", "content-length", "expect"):
                continue
            conn.putheader(k, v)
        if had_body or method in ("PUT", "POST", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if body else None)
        return conn, conn.getresponse()

    def forward(self, target, body, had_body, rule, entry):
        conn, resp = self.upstream_request(self.command, target, body, had_body)
        try:
            headers = resp.getheaders()
            status = resp.status
            if rule and rule["action"] == "swap_body":
                digest = resp.getheader("Docker-Content-Digest")
                resp.read()
                conn.close()
                conn, resp = self.upstream_request(self.command, rule["with_path"], body, had_body)
                status = resp.status
                headers = [(k, v) for k, v in resp.getheaders()
                           if k.lower() != "docker-content-digest"]
                if digest:
                    headers.append(("Docker-Content-Digest", digest))
            self.relay(status, headers, resp, rule, entry)
        finally:
            conn.close()

    def relay(self, status, headers, resp, rule, entry):
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        length = None
        out_headers = []
        for k, v in headers:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == "content-length":
                length = int(v)
                continue
            if lk == "location":
                v = self.state.rewrite_location(v)
            out_headers.append((k, v))
        if no_body:
            payload = None
        elif length is None:  # an upstream reply without a length: small, buffer it
            payload = resp.read()
            length = len(payload)
        else:
            payload = None
        self.send_response(status)
        for k, v in out_headers:
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif no_body and self.command != "HEAD":
            self.send_header("Content-Length", "0")
        self.end_headers()
        entry["status"] = status
        if no_body:
            return

        action = rule["action"] if rule else None
        limit = rule["after_bytes"] if action == "drop" else None
        corrupt_at = rule["offset"] if action == "corrupt" else None
        sent = 0
        pending = [payload] if payload is not None else None
        while True:
            if pending is not None:
                chunk = pending.pop() if pending else b""
            else:
                chunk = resp.read(CHUNK)
            if not chunk:
                break
            if corrupt_at is not None and sent <= corrupt_at < sent + len(chunk):
                i = corrupt_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if limit is not None and sent + len(chunk) >= limit:
                chunk = chunk[:limit - sent]
                self.wfile.write(chunk)
                sent += len(chunk)
                break
            self.wfile.write(chunk)
            sent += len(chunk)
        entry["bytes"] = sent
        if limit is not None:
            self.abort_connection()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="http://HOST:PORT or https://HOST:PORT")
    p.add_argument("--ca", help="CA bundle to verify an https upstream")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", help="write the bound port here once listening")
    args = p.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    server.state = State(args.upstream, args.ca, "127.0.0.1:%d" % port)
    return announce_and_serve(server, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
