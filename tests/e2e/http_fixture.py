"""A local HTTP server for the http built-in's tests (no network): started on a free port in a
thread of the test process.

  /echo         any method: {"method", "path", "headers", "body"} as JSON
  /text         text/plain "plain text"
  /status/N     status N with a JSON body {"status": N}
  /flaky/KEY/N  500 for the first N requests with this KEY, then 200 {"attempts": count}
  /slow/MS      waits MS milliseconds, then 200
"""

import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    counts = {}
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Fixture", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        parts = self.path.strip("/").split("/")
        if parts[0] == "echo":
            self._send(200, {"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        elif parts[0] == "text":
            self._send(200, "plain text", "text/plain")
        elif parts[0] == "status":
            self._send(int(parts[1]), {"status": int(parts[1])})
        elif parts[0] == "flaky":
            with self.lock:
                n = self.counts[parts[1]] = self.counts.get(parts[1], 0) + 1
            if n <= int(parts[2]):
                self._send(500, {"error": "try again"})
            else:
                self._send(200, {"attempts": n})
        elif parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000)
            try:
                self._send(200, {"slow": True})
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self._send(404, {"error": "no route"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and localhost (openssl CLI); returns (cert, key)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class FixtureServer:
    """with FixtureServer() as server: server.url("/echo"); FixtureServer(tls=True) serves https
    with a fresh self-signed certificate at server.cert."""

    def __init__(self, tls=False):
        self.tls = tls
        self.cert = None

    def __enter__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        if self.tls:
            self._certs = tempfile.TemporaryDirectory(prefix="am2z-tls-")
            self.cert, key = make_certificate(self._certs.name)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, path):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.tls:
            self._certs.cleanup()
