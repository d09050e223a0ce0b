"""A tiny line-based key-value server for Keel's demo platform (python3 standard library only).

Protocol: `SET key value`, `GET key`, `PING`; one command per line, one reply per line.
"""
import socketserver
import sys

STORE = {}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            parts = raw.decode("utf-8", "replace").strip().split(" ", 2)
            cmd = parts[0].upper() if parts else ""
            if cmd == "PING":
                reply = "PONG"
            elif cmd == "SET" and len(parts) == 3:
                STORE[parts[1]] = parts[2]
                reply = "OK"
            elif cmd == "GET" and len(parts) == 2:
                reply = STORE.get(parts[1], "")
            else:
                reply = "ERR unknown command"
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    with Server(("127.0.0.1", port), Handler) as server:
        print(f"{name}: listening on 127.0.0.1:{port}", flush=True)
        server.serve_forever()
