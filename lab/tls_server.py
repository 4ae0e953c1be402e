#!/usr/bin/env python3
"""The lab's signalling and web front door: TLS on 443 with the lab certificate,
answering every request with a small page. Python's ssl module is OpenSSL."""

import argparse
import http.server
import socket
import ssl


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"edgepath lab edge: {self.headers.get('Host', '?')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        print(f"{self.client_address[0]} {fmt % args}", flush=True)


class TLSServer(http.server.ThreadingHTTPServer):
    """Handshakes in each connection's own thread, with a timeout, so a client that
    connects and says nothing (a plain TCP reachability check) blocks no one else."""

    daemon_threads = True
    context = None

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print(f"{client_address[0]} handshake failed: {e}", flush=True)
            return
        super().finish_request(tls, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    TLSServer.context = ctx
    if ":" in a.addr:
        TLSServer.address_family = socket.AF_INET6
    server = TLSServer((a.addr, a.port), Handler)
    print(f"listening on {a.addr}:{a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
