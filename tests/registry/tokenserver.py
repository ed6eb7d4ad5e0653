#!/usr/bin/env python3
"""A token issuer for the docker registry token protocol, for tests.

Serves plain HTTP on 127.0.0.1 (an ephemeral port unless --port is given):

  GET  /token?service=S&scope=A&scope=B[&offline_token=true][&account=U]
       With `Authorization: Basic` for the test user: a token granting every requested action.
       Without credentials: a token granting nothing (so the registry answers 401
       insufficient_scope), unless the issuer is configured with anonymous_pull (then pull
       actions are granted). Wrong credentials: 401.
       Answer: {"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]};
       a refresh token only for an authenticated request with offline_token=true.
  POST /token  (OAuth2, application/x-www-form-urlencoded)
       grant_type=password (username, password) or grant_type=refresh_token (refresh_token),
       with service, client_id (required), scope (space separated), access_type=offline for a
       refresh token. Answer: {"access_token", "token", "expires_in", "issued_at", "scope"
       [, "refresh_token"]}. Bad credentials: 401 {"error": "invalid_grant"}.

Test control (never part of the protocol):

  GET    /__log      every token request seen, oldest first, as a JSON list of
                     {"seq", "method", "service", "scopes", "granted", "credentials", "kind",
                      "user", "client_id", "offline", "status"}; "credentials" says whether any
                     were presented, "kind" is basic|password|refresh_token|anonymous|invalid.
                     Secrets are never logged.
  DELETE /__log      clears it.
  GET    /__config   the current settings; PUT /__config merges a JSON object into them:
                     expires_in (int seconds, default 300), anonymous_pull (bool, default false),
                     allow_post (bool, default true: false answers POST with 404 so clients
                     fall back to GET), require_client_id (bool, default true, POST only).

distribution accepts a token up to 60 s past its "exp" (its clock-skew leeway), so a short
expires_in exercises a client's renewal, not the registry's refusal.

Tokens are JWTs signed ES256 with --key; the header carries the signing certificate (--cert) in
`x5c`, which the registry verifies against its auth.token.rootcertbundle (the test CA).
"""

import argparse
import base64
import datetime
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving import announce_and_serve

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_scope(scope):
    """'repository:a/b:pull,push' -> ('repository', 'a/b', ['pull', 'push']) or None."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last <= first:
        return None
    rtype = scope[:first]
    if "(" in rtype:  # repository(plugin): the class is not part of the type
        rtype = rtype[: rtype.index("(")]
    actions = [a for a in scope[last + 1:].split(",") if a]
    return rtype, scope[first + 1:last], actions


class Issuer:
    def __init__(self, key, cert, service, issuer, username, password):
        self.key = key
        self.cert_der_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.service = service
        self.issuer = issuer
        self.username = username
        self.password = password
        self.lock = threading.Lock()
        self.log = []
        self.seq = 0
        self.refresh_tokens = {}  # refresh token -> subject
        self.config = {"expires_in": 300, "anonymous_pull": False, "allow_post": True,
                       "require_client_id": True}

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)

    def grant(self, scopes, user):
        """The access claim for `scopes`: everything asked for an authenticated user, pull only
        (when configured) or nothing for an anonymous one."""
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, actions = parsed
            if user is None:
                actions = [a for a in actions if a == "pull"] if self.config["anonymous_pull"] else []
            if actions:
                access.append({"type": rtype, "name": name, "actions": actions})
        return access

    def sign(self, user, access):
        now = int(time.time())
        with self.lock:
            expires_in = int(self.config["expires_in"])
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.cert_der_b64]}
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service,
                  "exp": now + expires_in, "nbf": now - 5, "iat": now,
                  "jti": secrets.token_hex(16), "access": access}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        issued_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return signing_input + "." + b64url(signature), expires_in, issued_at.strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    def new_refresh_token(self, user):
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = user
        return token


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hoist-test-token/1"

    def log_message(self, fmt, *args):  # quiet: the request log is /__log
        pass

    @property
    def issuer(self):
        return self.server.issuer

    def send_json(self, status, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def basic_credentials(self):
        """(presented, user or None): user is set only when the credentials are right."""
        value = self.headers.get("Authorization")
        if not value:
            return False, None
        parts = value.split(" ", 1)
        if len(parts) != 2 or parts[0].lower() != "basic":
            return True, None
        try:
            user, _, password = base64.b64decode(parts[1]).decode().partition(":")
        except Exception:
            return True, None
        if user == self.issuer.username and password == self.issuer.password:
            return True, user
        return True, None

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__log":
            with self.issuer.lock:
                return self.send_json(200, list(self.issuer.log))
        if url.path == "/__config":
            with self.issuer.lock:
                return self.send_json(200, dict(self.issuer.config))
        if url.path != "/token":
            return self.send_json(404, {"error": "not found"})
        query = urllib.parse.parse_qs(url.query)
        scopes = query.get("scope", [])
        presented, user = self.basic_credentials()
        offline = query.get("offline_token", ["false"])[0].lower() == "true"
        entry = {"method": "GET", "service": query.get("service", [""])[0], "scopes": scopes,
                 "credentials": presented, "user": user,
                 "client_id": query.get("client_id", [None])[0], "offline": offline,
                 "kind": "basic" if user else ("invalid" if presented else "anonymous")}
        if presented and user is None:
            entry.update(granted=[], status=401)
            self.issuer.record(entry)
            return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "invalid username or password"}]},
                                  [("WWW-Authenticate", 'Basic realm="hoist-test"')])
        access = self.issuer.grant(scopes, user)
        token, expires_in, issued_at = self.issuer.sign(user, access)
        answer = {"token": token, "access_token": token, "expires_in": expires_in,
                  "issued_at": issued_at}
        if offline and user:
            answer["refresh_token"] = self.issuer.new_refresh_token(user)
        entry.update(granted=access, status=200)
        self.issuer.record(entry)
        self.send_json(200, answer)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.send_json(404, {"error": "not found"})
        form = urllib.parse.parse_qs(self.read_body().decode("utf-8", "replace"))
        get = lambda k: form.get(k, [""])[0]
        scopes = [s for s in get("scope").split(" ") if s]
        grant_type = get("grant_type")
        offline = get("access_type") == "offline"
        entry = {"method": "POST", "service": get("service"), "scopes": scopes,
                 "client_id": get("client_id") or None, "offline": offline, "kind": grant_type,
                 "user": None, "credentials": bool(get("password") or get("refresh_token"))}
        with self.issuer.lock:
            allow_post = self.issuer.config["allow_post"]
            require_client_id = self.issuer.config["require_client_id"]
        if not allow_post:
            entry.update(granted=[], status=404)
            self.issuer.record(entry)
            return self.send_json(404, {"error": "not found"})
        if require_client_id and not get("client_id"):
            entry.update(granted=[], status=400)
            self.issuer.record(entry)
            return self.send_json(400, {"error": "invalid_request",
                                        "error_description": "client_id is required"})
        user = None
        if grant_type == "password":
            if get("username") == self.issuer.username and get("password") == self.issuer.password:
                user = get("username")
        elif grant_type == "refresh_token":
            with self.issuer.lock:
                user = self.issuer.refresh_tokens.get(get("refresh_token"))
        else:
            entry.update(granted=[], status=400)
            self.issuer.record(entry)
            return self.send_json(400, {"error": "unsupported_grant_type"})
        if user is None:
            entry.update(granted=[], status=401)
            self.issuer.record(entry)
            return self.send_json(401, {"error": "invalid_grant"})
        access = self.issuer.grant(scopes, user)
        token, expires_in, issued_at = self.issuer.sign(user, access)
        answer = {"access_token": token, "token": token, "expires_in": expires_in,
                  "issued_at": issued_at, "scope": " ".join(scopes)}
        if offline:
            answer["refresh_token"] = self.issuer.new_refresh_token(user)
        entry.update(user=user, granted=access, status=200)
        self.issuer.record(entry)
        self.send_json(200, answer)

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/__config":
            return self.send_json(404, {"error": "not found"})
        try:
            update = json.loads(self.read_body() or b"{}")
            if not isinstance(update, dict):
                raise ValueError("expected a JSON object")
            with self.issuer.lock:
                for k, v in update.items():
                    if k not in self.issuer.config:
                        raise ValueError("unknown setting %r" % k)
                    if type(v) is not type(self.issuer.config[k]):
                        raise ValueError("setting %r has the wrong type" % k)
                    self.issuer.config[k] = v
                config = dict(self.issuer.config)
        except ValueError as e:
            return self.send_json(400, {"error": str(e)})
        self.send_json(200, config)

    def do_DELETE(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/__log":
            return self.send_json(404, {"error": "not found"})
        with self.issuer.lock:
            self.issuer.log.clear()
        self.send_json(200, [])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="PEM EC P-256 private key")
    p.add_argument("--cert", required=True, help="PEM certificate of --key")
    p.add_argument("--service", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", help="write the bound port here once listening")
    args = p.parse_args()

    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(args.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(args.password_file) as f:
        password = f.read().strip()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.issuer = Issuer(key, cert, args.service, args.issuer, args.username, password)
    return announce_and_serve(server, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
