#!/usr/bin/env python3
"""Starts and stops a real registry (Debian's docker-registry, distribution 2.8) for tests.

  registry.py start --dir DIR [--auth none|basic|token] [--tls] [--proxy]
                    [--foreground] [--watch-pid PID [--remove-dir]] [--timeout SECONDS]
  registry.py stop --dir DIR

`start` generates everything under DIR (config.yml, storage/, keys and certificates, htpasswd,
logs), starts the registry on 127.0.0.1 at a free port, the token issuer (tokenserver.py) for
--auth token and the fault proxy (faultproxy.py) for --proxy, waits until each answers, and
prints one JSON line:

  {"host": "127.0.0.1:PORT", "scheme": "http"|"https", "ca": "DIR/ca.pem" (TLS only, else ""),
   "cert_dir": "DIR/certs" (TLS only: ca.crt, for skopeo/podman --cert-dir), "username": ..,
   "password": .. (both "" without auth), "proxy_host": "127.0.0.1:PORT2" (else ""),
   "token_host": "127.0.0.1:PORT3" (token auth only, else ""), "realm": (token only),
   "service": (token only), "pgid": N, "pids": [...], "dir": DIR}

Every process runs in one process group led by a small supervisor (the `start` process itself
with --foreground, else a daemon it forks). The supervisor's children die with it
(PR_SET_PDEATHSIG); it stops everything on SIGTERM/SIGINT/SIGHUP, and when --watch-pid names a
process that has gone away (then, with --remove-dir, it also removes DIR). DIR/state.json
records the group; `stop` ends it.

The registry has deletes enabled. The token issuer always speaks plain HTTP, even with --tls.
The proxy always speaks plain HTTP to its clients, also in front of a TLS registry (it verifies
the registry with the test CA). Basic and token auth use the same generated user and password.
"""

import argparse
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REGISTRY_BIN = os.environ.get("HOIST_TEST_REGISTRY_BIN", "/usr/bin/docker-registry")
SERVICE = "hoist-test-registry"
ISSUER = "hoist-test-issuer"
USERNAME = "hoist"


class StartError(Exception):
    pass


# --- keys and certificates -------------------------------------------------------------------

def _write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def make_pki(d, server, token):
    """A test CA (ca.pem) and, as asked, a server certificate for 127.0.0.1/localhost
    (server.pem, server.key) and a token signing certificate (token.pem, token.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    def key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder()
               .subject_name(name("hoist test CA")).issuer_name(name("hoist test CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    _write(os.path.join(d, "ca.pem"), ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(os.path.join(d, "ca.key"), key_pem(ca_key), 0o600)

    def leaf(prefix, cn, extensions):
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder()
             .subject_name(name(cn)).issuer_name(ca_cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 ca_key.public_key()), critical=False))
        for ext in extensions:
            b = b.add_extension(ext, critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        _write(os.path.join(d, prefix + ".pem"), cert.public_bytes(serialization.Encoding.PEM))
        _write(os.path.join(d, prefix + ".key"), key_pem(key), 0o600)

    usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    if server:
        leaf("server", "127.0.0.1", [
            usage,
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                         x509.IPAddress(ipaddress.ip_address("::1"))]),
        ])
        certs = os.path.join(d, "certs")
        os.makedirs(certs, exist_ok=True)
        with open(os.path.join(d, "ca.pem"), "rb") as f:
            _write(os.path.join(certs, "ca.crt"), f.read())
    if token:
        leaf("token", "hoist test token issuer", [usage])


def bcrypt_hash(password):
    """A bcrypt hash for htpasswd (distribution accepts only bcrypt), at the lowest cost so
    that the registry checks it quickly on every request."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
            h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
            if h and h.startswith("$2"):
                return h
        except ImportError:
            pass
    try:
        import bcrypt
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    except ImportError:
        raise StartError("no bcrypt: this Python has neither the crypt module (<= 3.12) nor "
                         "the bcrypt module (apt-get install python3-bcrypt)")


# --- processes -------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv, log_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                preexec_fn=_die_with_parent, close_fds=True)


def tail(path, lines=20):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return ""


def wait_port_file(proc, path, deadline, what, log_path):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError("%s exited with %s:\n%s" % (what, proc.returncode, tail(log_path)))
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise StartError("%s did not start in time:\n%s" % (what, tail(log_path)))


def wait_http(proc, url, deadline, what, log_path, context=None):
    """Waits until `url` gives any HTTP answer."""
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError("%s exited with %s:\n%s" % (what, proc.returncode, tail(log_path)))
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, ssl.SSLError) as e:
            last = e
            time.sleep(0.05)
    raise StartError("%s did not answer %s in time (%s):\n%s" % (what, url, last, tail(log_path)))


def registry_config(d, port, auth, tls, realm):
    config = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": os.path.join(d, "storage")},
                    "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": "127.0.0.1:%d" % port, "secret": secrets.token_hex(16),
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if tls:
        config["http"]["tls"] = {"certificate": os.path.join(d, "server.pem"),
                                 "key": os.path.join(d, "server.key")}
    if auth == "basic":
        config["auth"] = {"htpasswd": {"realm": "hoist-test", "path": os.path.join(d, "htpasswd")}}
    elif auth == "token":
        config["auth"] = {"token": {"realm": realm, "service": SERVICE, "issuer": ISSUER,
                                    "rootcertbundle": os.path.join(d, "ca.pem")}}
    # JSON is YAML: the registry reads it as its config.yml.
    path = os.path.join(d, "config.yml")
    _write(path, (json.dumps(config, indent=2) + "\n").encode())
    return path


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.d = os.path.abspath(args.dir)
        self.procs = []

    def start(self):
        a, d = self.args, self.d
        deadline = time.monotonic() + a.timeout
        os.makedirs(os.path.join(d, "storage"), exist_ok=True)
        for stale in ("token.port", "proxy.port"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, stale))
        if a.tls or a.auth == "token":
            make_pki(d, server=a.tls, token=a.auth == "token")
        username = password = ""
        if a.auth != "none":
            username, password = USERNAME, secrets.token_hex(12)
            _write(os.path.join(d, "password"), password.encode(), 0o600)
        if a.auth == "basic":
            _write(os.path.join(d, "htpasswd"),
                   ("%s:%s\n" % (username, bcrypt_hash(password))).encode(), 0o600)

        token_host = realm = ""
        if a.auth == "token":
            log = os.path.join(d, "token.log")
            p = spawn([sys.executable, os.path.join(HERE, "tokenserver.py"),
                       "--key", os.path.join(d, "token.key"), "--cert", os.path.join(d, "token.pem"),
                       "--service", SERVICE, "--issuer", ISSUER, "--username", username,
                       "--password-file", os.path.join(d, "password"),
                       "--port-file", os.path.join(d, "token.port")], log)
            self.procs.append(p)
            port = wait_port_file(p, os.path.join(d, "token.port"), deadline, "token issuer", log)
            token_host = "127.0.0.1:%d" % port
            realm = "http://%s/token" % token_host
            wait_http(p, "http://%s/__log" % token_host, deadline, "token issuer", log)

        scheme = "https" if a.tls else "http"
        context = ssl.create_default_context(cafile=os.path.join(d, "ca.pem")) if a.tls else None
        log = os.path.join(d, "registry.log")
        for attempt in range(5):
            port = free_port()
            config = registry_config(d, port, a.auth, a.tls, realm)
            p = spawn([REGISTRY_BIN, "serve", config], log)
            try:
                wait_http(p, "%s://127.0.0.1:%d/v2/" % (scheme, port), deadline, "docker-registry",
                          log, context)
                self.procs.append(p)
                break
            except StartError as e:
                # Another process may have taken the port between our probe and the registry's
                # bind; try another one.
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait()
                if "address already in use" not in str(e) or attempt == 4:
                    raise
        host = "127.0.0.1:%d" % port

        proxy_host = ""
        if a.proxy:
            log = os.path.join(d, "proxy.log")
            argv = [sys.executable, os.path.join(HERE, "faultproxy.py"),
                    "--upstream", "%s://%s" % (scheme, host),
                    "--port-file", os.path.join(d, "proxy.port")]
            if a.tls:
                argv += ["--ca", os.path.join(d, "ca.pem")]
            p = spawn(argv, log)
            self.procs.append(p)
            port = wait_port_file(p, os.path.join(d, "proxy.port"), deadline, "fault proxy", log)
            proxy_host = "127.0.0.1:%d" % port
            wait_http(p, "http://%s/__proxy/log" % proxy_host, deadline, "fault proxy", log)

        info = {"host": host, "scheme": scheme,
                "ca": os.path.join(d, "ca.pem") if a.tls else "",
                "cert_dir": os.path.join(d, "certs") if a.tls else "",
                "username": username, "password": password, "proxy_host": proxy_host,
                "token_host": token_host, "realm": realm,
                "service": SERVICE if a.auth == "token" else "",
                "pgid": os.getpgid(0), "pids": [os.getpid()] + [p.pid for p in self.procs],
                "dir": d}
        tmp = os.path.join(d, "state.json.tmp")
        _write(tmp, (json.dumps(info) + "\n").encode())
        os.rename(tmp, os.path.join(d, "state.json"))
        return info

    def stop_children(self):
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        deadline = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait()

    def serve(self):
        """Runs until signalled or until the watched process is gone."""
        stopping = []

        def on_signal(signum, frame):
            stopping.append(signum)

        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, on_signal)
        watch = self.args.watch_pid
        orphaned = False
        while not stopping:
            if watch and not running(watch):
                orphaned = True
                break
            time.sleep(0.2)
        self.stop_children()
        if orphaned and self.args.remove_dir:
            shutil.rmtree(self.d, ignore_errors=True)


def redirect_stdio(log_path):
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)


def cmd_start(args):
    os.makedirs(args.dir, exist_ok=True)
    supervisor_log = os.path.join(os.path.abspath(args.dir), "supervisor.log")
    if args.foreground:
        if os.getpgid(0) != os.getpid():
            os.setpgid(0, 0)
        sup = Supervisor(args)
        # Signals that arrive while starting stop everything, too.
        signal.signal(signal.SIGTERM, lambda *_: (sup.stop_children(), os._exit(1)))
        try:
            info = sup.start()
        except (StartError, OSError) as e:
            sup.stop_children()
            print("registry.py: %s" % e, file=sys.stderr)
            return 1
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        redirect_stdio(supervisor_log)
        sup.serve()
        return 0

    # Daemon: the forked child becomes a session leader and reports through a pipe.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        redirect_stdio(supervisor_log)
        sup = Supervisor(args)
        try:
            info = sup.start()
            msg = json.dumps(info)
            code = 0
        except Exception as e:  # report any failure to the waiting parent
            sup.stop_children()
            msg = "ERROR " + str(e)
            code = 1
        os.write(w, (msg + "\n").encode())
        os.close(w)
        if code == 0:
            sup.serve()
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:  # the daemon closes its end once it has reported
        line = f.read().decode("utf-8", "replace").rstrip("\n")
    if not line.startswith("{"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        print("registry.py: %s" % (line[len("ERROR "):] if line else "the supervisor died"),
              file=sys.stderr)
        return 1
    print(line)
    return 0


def _stat(pid):
    """(state, pgid) of a process from /proc, or None when there is no such process."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[0], int(fields[2])


def running(pid):
    """True while `pid` exists and is not a zombie (a zombie has finished; its parent has
    just not collected it yet)."""
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def group_alive(pgid):
    """True while a process of group `pgid` is running (zombies do not count)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(entry)
            if st is not None and st[0] != "Z" and st[1] == pgid:
                return True
    return False


def cmd_stop(args):
    path = os.path.join(args.dir, "state.json")
    try:
        with open(path) as f:
            pgid = int(json.load(f)["pgid"])
    except (OSError, ValueError, KeyError) as e:
        print("registry.py: nothing to stop in %s (%s)" % (args.dir, e), file=sys.stderr)
        return 1
    if pgid <= 1 or pgid == os.getpgid(0):
        print("registry.py: refusing to signal process group %d" % pgid, file=sys.stderr)
        return 1
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    os.unlink(path)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start")
    s.add_argument("--dir", required=True)
    s.add_argument("--auth", choices=["none", "basic", "token"], default="none")
    s.add_argument("--tls", action="store_true")
    s.add_argument("--proxy", action="store_true")
    s.add_argument("--foreground", action="store_true",
                   help="stay in the foreground as the supervisor (for a parent that reaps it)")
    s.add_argument("--watch-pid", type=int, default=0,
                   help="stop everything when this process is gone")
    s.add_argument("--remove-dir", action="store_true",
                   help="remove DIR when stopping because the --watch-pid process is gone")
    s.add_argument("--timeout", type=float, default=20.0, help="start-up limit in seconds")
    t = sub.add_parser("stop")
    t.add_argument("--dir", required=True)
    args = p.parse_args()
    return cmd_start(args) if args.command == "start" else cmd_stop(args)


if __name__ == "__main__":
    sys.exit(main())
