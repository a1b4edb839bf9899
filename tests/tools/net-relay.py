#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 for tests/net-test.sh: it forwards connections
to a port on 127.0.0.1 and misbehaves on request.

  net-relay.py --to PORT --port-file FILE [--cut-after N --cuts K]
               [--flip-at N] [--record FILE] [--delay SECS] [--lifetime SECS]
  net-relay.py --replay FILE --to PORT      send FILE's bytes, print the answer size
  net-relay.py --garbage --to PORT          send bytes that are no handshake
  net-relay.py --silent SECS --to PORT      connect and say nothing for SECS
  net-relay.py --hello-version V --to PORT  a hello of protocol version V (an
                                            agent of another version); print
                                            the answer's version byte

--cut-after N: the first K connections are closed after N bytes from the
client.  --flip-at N: byte N of every connection's client stream is
inverted.  --record: the client bytes of the first connection are saved.
Only 127.0.0.1 is ever used; the relay exits after --lifetime seconds.
"""
import argparse
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def pump(src, dst, state, client_side, args, conn_no):
    seen = 0
    try:
        while True:
            data = src.recv(16384)
            if not data:
                break
            if client_side:
                data = bytearray(data)
                if args.flip_at is not None and seen <= args.flip_at < seen + len(data):
                    data[args.flip_at - seen] ^= 0xFF
                if args.record and conn_no == 1:
                    with open(args.record, "ab") as f:
                        f.write(data)
                if args.cut_after and conn_no <= args.cuts and seen + len(data) >= args.cut_after:
                    dst.sendall(data[:args.cut_after - seen])
                    break
                seen += len(data)
                if args.delay:
                    time.sleep(args.delay)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(args):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, 0))
    ls.listen(16)
    ls.settimeout(1.0)
    with open(args.port_file, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    end = time.time() + args.lifetime
    n = 0
    while time.time() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        n += 1
        try:
            u = socket.create_connection((HOST, args.to), timeout=5)
        except OSError:
            c.close()
            continue
        u.settimeout(None)
        st = {}
        threading.Thread(target=pump, args=(c, u, st, True, args, n), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, st, False, args, n), daemon=True).start()
        print("relay: connection %d" % n, file=sys.stderr, flush=True)


def client(args, payload, hold=0.0):
    s = socket.create_connection((HOST, args.to), timeout=10)
    if payload:
        s.sendall(payload)
    if hold:
        time.sleep(hold)
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
    except OSError:
        pass
    s.close()
    print(got)


def hello_version(args):
    # header: "SLVG", version, three zero bytes; then two 32-byte keys
    hello = b"SLVG" + bytes([args.hello_version, 0, 0, 0]) + bytes(range(1, 65))
    s = socket.create_connection((HOST, args.to), timeout=10)
    s.sendall(hello)
    got = b""
    try:
        while len(got) < 8:
            d = s.recv(8 - len(got))
            if not d:
                break
            got += d
    except OSError:
        pass
    s.close()
    if len(got) == 8 and got[:4] == b"SLVG":
        print("answer: SLVG version %d" % got[4])
    else:
        print("answer: %r" % got)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--port-file")
    p.add_argument("--cut-after", type=int, default=0)
    p.add_argument("--cuts", type=int, default=0)
    p.add_argument("--flip-at", type=int)
    p.add_argument("--record")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--lifetime", type=float, default=120.0)
    p.add_argument("--replay")
    p.add_argument("--garbage", action="store_true")
    p.add_argument("--silent", type=float)
    p.add_argument("--hello-version", type=int)
    args = p.parse_args()
    if args.replay:
        with open(args.replay, "rb") as f:
            client(args, f.read())
    elif args.garbage:
        client(args, b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
    elif args.hello_version is not None:
        hello_version(args)
    elif args.silent:
        client(args, b"", hold=args.silent)
    else:
        relay(args)


if __name__ == "__main__":
    main()
