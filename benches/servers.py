"""The servers the bench runs side by side — nginx, HAProxy, Caddy and certgate — each started
from a configuration written into the scratch directory with the same certificate, upstream and
pinning, and each with a termination-only port where the peer has one (the rows' ceiling).
"""

import os
import time
import urllib.request

from harness import BODY, RELEASE, TMP, TOKEN, free_port, max_connections, start, stop, wait_port


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class Server:
    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = free_port()
        self.term_port = free_port()
        # The upstream's protocol: http, https (HTTP/1.1 over TLS) or grpc (HTTP/2 cleartext).
        self.kind = "http"
        # A CA (PEM file) client certificates must chain to on the proxied port (mTLS rows).
        self.client_ca = None
        # Compress text/html answers on the proxied port (the compression rows): each peer's
        # own module at gzip level 5, the on-the-fly level (Caddy's default).
        self.compress = False
        # A command the server runs under (valgrind: `ab.py`'s `ir`, `cache_model.py`).
        self.launcher = []

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


NGINX_PASS = {
    "http": 'proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;',
    "https": 'proxy_pass https://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_ssl_session_reuse on;',
    "grpc": "grpc_pass grpc://up;",
}
HAPROXY_SERVER = {"http": "", "https": " ssl verify none alpn http/1.1", "grpc": " proto h2"}


class Nginx(Server):
    def start(self, workers, cpus, cert, key, upstream):
        conf = write("nginx.conf", f"""
worker_processes {workers};
pid {TMP}/nginx.pid;
error_log {TMP}/nginx-error.log warn;
daemon off;

events {{ worker_connections 30000; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  ssl_session_cache shared:SSL:20m;
  ssl_session_tickets on;
  ssl_protocols TLSv1.2 TLSv1.3;
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{self.port} ssl http2;
    ssl_certificate {cert}; ssl_certificate_key {key};
    {f"ssl_verify_client on; ssl_client_certificate {self.client_ca};" if self.client_ca else ""}
    {"gzip on; gzip_comp_level 5; gzip_types text/html; gzip_min_length 512; gzip_proxied any;" if self.compress else ""}
    location / {{ {NGINX_PASS[self.kind]} }}
  }}
  server {{
    listen 127.0.0.1:{self.term_port} ssl http2;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}
  }}
}}
""")
        self.proc = start(["nginx", "-c", conf, "-p", TMP], cpus=cpus, name="nginx")
        wait_port(self.port)


class Haproxy(Server):
    def start(self, workers, cpus, cert, key, upstream):
        combined = write("haproxy.pem", open(cert).read() + open(key).read())
        conf = write("haproxy.cfg", f"""
global
  nbthread {workers}
  maxconn {max_connections()}
  tune.ssl.cachesize 100000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend proxy
  bind 127.0.0.1:{self.port} ssl crt {combined} alpn h2,http/1.1{f" verify required ca-file {self.client_ca}" if self.client_ca else ""}
{"  compression algo gzip" + chr(10) + "  compression type text/html" if self.compress else ""}
  default_backend upstream
frontend term
  bind 127.0.0.1:{self.term_port} ssl crt {combined} alpn h2,http/1.1
  http-request return status 200 content-type text/plain string "{BODY.strip()}"
backend upstream
  server up 127.0.0.1:{upstream}{HAPROXY_SERVER[self.kind]}
""")
        self.proc = start(self.launcher + ["haproxy", "-f", conf, "-db"], cpus=cpus, name="haproxy")
        wait_port(self.port)


class Caddy(Server):
    def start(self, workers, cpus, cert, key, upstream):
        admin = free_port()
        conf = write("Caddyfile", f"""
{{
  auto_https off
  admin 127.0.0.1:{admin}
  log {{
    level ERROR
  }}
}}
https://:{self.port} {{
  tls {cert} {key}
  {"encode zstd gzip" if self.compress else ""}
  reverse_proxy 127.0.0.1:{upstream}
}}
https://:{self.term_port} {{
  tls {cert} {key}
  respond "{BODY.strip()}" 200
}}
""")
        home = os.path.join(TMP, "caddy-home")
        os.makedirs(home, exist_ok=True)
        env = {"GOMAXPROCS": str(workers), "HOME": home, "XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home}
        self.proc = start(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], env=env, cpus=cpus, name="caddy")
        wait_port(self.port)


class Certgate(Server):
    def __init__(self, redis_url, prefix="bench:", binary=None, launcher=(), name="certgate"):
        # "certgate-plain" for the build without the profile (`BENCH_PLAIN_BINARY`) in the sweep.
        super().__init__(name)
        self.binary = binary or os.path.join(RELEASE, "certgate")
        self.launcher = list(launcher)
        self.redis_url = redis_url
        self.prefix = prefix
        self.admin = free_port()
        self.http = free_port()
        self.term_port = None

    def start(self, workers, cpus, cert=None, key=None, upstream=None, extra=None):
        # A port picked free can be taken by a load generator's connection before certgate
        # binds it; then certgate exits at once, and it is started again on other ports.
        for _ in range(3):
            if self._start_once(workers, cpus, extra):
                return
            self.port, self.admin, self.http = free_port(), free_port(), free_port()
        raise RuntimeError("certgate did not start: its listening ports were taken three times")

    def _start_once(self, workers, cpus, extra):
        """Starts certgate and waits until it is ready; False if a port was already in use."""
        env = {
            "REDIS_URL": self.redis_url, "REDIS_KEY_PREFIX": self.prefix, "ADMIN_TOKEN": TOKEN,
            "ADMIN_ADDR": f"127.0.0.1:{self.admin}", "HTTP_ADDR": f"127.0.0.1:{self.http}",
            "HTTPS_ADDR": f"127.0.0.1:{self.port}", "WORKER_THREADS": str(workers),
            "ACME_DIRECTORY_URL": "https://127.0.0.1:9/dir", "ACME_STAGING_URL": "https://127.0.0.1:9/dir",
            "LOG_LEVEL": "warn", "MAX_CONNECTIONS": "30000", "HEADER_READ_TIMEOUT_SECONDS": "60",
        }
        env.update(extra or {})
        self.started_at = time.time()
        log_file = os.path.join(TMP, f"{self.name}.log")
        log_start = os.path.getsize(log_file) if os.path.exists(log_file) else 0
        self.proc = start(self.launcher + [self.binary, "serve"], env=env, cpus=cpus, name=self.name)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/health", timeout=1) as r:
                    if r.status == 200:
                        self.ready_seconds = time.time() - self.started_at
                        return True
            except OSError:
                pass
            if self.proc.poll() is not None:
                with open(log_file, "rb") as f:
                    f.seek(log_start)
                    if b"Address already in use" in f.read():
                        return False
                raise RuntimeError(f"certgate exited with {self.proc.returncode} (see {log_file})")
            time.sleep(0.02)
        raise RuntimeError("certgate did not become ready")
