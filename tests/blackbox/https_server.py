"""A local HTTPS (or plain HTTP) server for the webhook tests, with a test
CA made by Debian's openssl at test time.

make_ca(dir, name) makes a CA and a server certificate for 127.0.0.1 and
localhost signed by it. HookServer answers by path:

  /ok, /bot<TOKEN>/sendMessage, /bot<TOKEN>/sendPhoto, /v3.0/oa/message/cs,
  any other path     200 {"ok": true}
  /fail500           500 {"error": "internal"}
  /bad400            400 {"ok": false, "description": "Bad Request: chat not found"}
  /hang              reads the request, never answers (until stop)
  /camera.jpg        a small JPEG (HTTP basic auth when the server has
                     camera_auth set)

Every request is recorded (method, path, headers, body) in .requests.
"""

import base64
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name="ca"):
    """CA (NAME.crt) and a server key/cert (NAME-server.key/.crt) for
    127.0.0.1 and localhost. Returns (ca_crt, server_crt, server_key)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN=safehouse test {name}",
             cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-server.key",
             "-out", f"{name}-server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / f"{name}-ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", f"{name}-server.csr", "-CA", f"{name}.crt", "-CAkey",
             f"{name}.key", "-CAcreateserial", "-days", "2", "-out", f"{name}-server.crt",
             "-extfile", f"{name}-ext.cnf", cwd=d)
    return d / f"{name}.crt", d / f"{name}-server.crt", d / f"{name}-server.key"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _reply(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        srv = self.server.hook
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with srv.lock:
            srv.requests.append({"method": self.command, "path": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
            srv.cond.notify_all()
        if self.path.startswith("/hang"):
            srv.stopping.wait()
            return
        if self.path.startswith("/fail500"):
            self._reply(500, {"error": "internal"})
        elif self.path.startswith("/bad400"):
            self._reply(400, {"ok": False, "error_code": 400,
                              "description": "Bad Request: chat not found"})
        elif self.path.startswith("/camera"):
            if srv.camera_auth:
                want = "Basic " + base64.b64encode(srv.camera_auth.encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self._reply(200, JPEG, "image/jpeg")
        else:
            self._reply(200, {"ok": True})

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle


class HookServer:
    def __init__(self, cert=None, key=None, camera_auth=None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hook = self
        self.requests = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.camera_auth = camera_auth
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def find(self, pred):
        with self.lock:
            return [r for r in self.requests if pred(r)]
