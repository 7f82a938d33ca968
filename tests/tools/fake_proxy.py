# fake_proxy.py: an HTTP proxy on loopback that records every byte clients send it; tunnels CONNECT, refuses the rest.
#
# Usage: python3 fake_proxy.py PORTFILE LOG. Writes the port it listens on
# to PORTFILE, then appends to LOG everything a client sends: request
# heads, bodies, and the bytes of CONNECT tunnels (client to server only).
# A CONNECT is tunnelled to its target; any other request (a proxied
# plain-http request, which carries its headers in clear) is recorded and
# answered 502, never forwarded.
import os
import socket
import sys
import threading

port_file, log_path = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def record(data):
    with lock, open(log_path, "ab") as f:
        f.write(data)


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pipe(src, dst, rec):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if rec:
                record(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        close_both(src, dst)


def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        data = c.recv(65536)
        if not data:
            record(head)
            c.close()
            return
        head += data
        if len(head) > 1 << 20:
            break
    record(head)
    words = head.split(b"\r\n", 1)[0].split()
    if len(words) >= 2 and words[0] == b"CONNECT":
        host, port = words[1].rsplit(b":", 1)
        try:
            up = socket.create_connection((host.decode().strip("[]"), int(port)), 5)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            up.sendall(rest)
        threading.Thread(target=pipe, args=(up, c, False), daemon=True).start()
        pipe(c, up, True)
        return
    c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    close_both(c, c)
    c.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
