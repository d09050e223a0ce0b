"""A stand-in MCP server for Keel's demo platform: answers `PING` with `PONG` on a Unix socket.

Usage: mcp_server.py SOCKET_PATH (python3 standard library only).
"""
import os
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").strip()
            reply = "PONG" if line.upper() == "PING" else "ERR unknown request"
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)  # a socket left by an earlier run
    with Server(path, Handler) as server:
        print(f"mcp-server listening on {path}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
