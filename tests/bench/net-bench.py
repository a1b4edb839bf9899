#!/usr/bin/python3
"""net-bench.py - the network transport on 127.0.0.1, in the same run:

  - throughput of `salvage-capture --send` into `salvage receive` (MB/s) and
    its ratio to a plain TCP copy of the same bytes: a Python sender using
    sendfile, a receiver writing the bytes into a temporary file on the same
    file system as the receiver's --dir, then one fsync, a rename and an
    fsync of the directory (the durability salvage receive gives a stored
    dump at its end; salvage receive also fdatasyncs every 4 MiB to
    acknowledge).  Rounds are paired and interleaved (the order alternates);
    the ratio is the median of the per-round ratios.  AES-256-GCM (chosen
    when both sides have AES-NI) and XChaCha20-Poly1305 (forced with
    SALVAGE_NET_CIPHER=xchacha) are both measured;
  - the receiver's peak memory (VmHWM) with --agents agents sending at once,
    and per connection above the idle receiver.

Only 127.0.0.1 is used.  `make bench` runs it after bench.py.
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"


def wait_file(path, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.05)
    return False


def hwm_kib(pid, key="VmHWM"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_secs(pid):
    """User and system CPU seconds of a process so far (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain_copy(src, dst):
    """Seconds to copy src over TCP into dst: written to dst.tmp, fsynced,
    renamed to dst, the directory fsynced."""
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    done = {}

    def server():
        c, _ = ls.accept()
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, dst)
        d = os.open(os.path.dirname(dst), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(d)
        os.close(d)
        c.sendall(b"k")
        c.close()
        done["ok"] = True

    t = threading.Thread(target=server)
    c0 = time.process_time()
    t.start()
    t0 = time.time()
    s = socket.create_connection((HOST, port))
    with open(src, "rb") as f:
        s.sendfile(f)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    secs = time.time() - t0
    s.close()
    t.join()
    cpu = time.process_time() - c0
    ls.close()
    os.unlink(dst)
    return secs, cpu


class Receiver:
    def __init__(self, build, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        port_file = os.path.join(work, name + ".port")
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(build, "salvage"), "receive", "--listen", HOST + ":0",
             "--port-file", port_file, "--dir", self.dir, "--key", os.path.join(work, "rx"),
             "--authorized-keys", os.path.join(work, "auth"), "--min-free", "64M"],
            stderr=self.log)
        if not wait_file(port_file):
            raise SystemExit("net-bench: salvage receive did not start")
        self.port = int(open(port_file).read())

    def clear(self):
        for e in os.listdir(self.dir):
            if e != ".incoming":
                shutil.rmtree(os.path.join(self.dir, e))

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.log.close()


def send_cmd(build, work, port, path):
    return [os.path.join(build, "salvage-capture"), "--send", path, "--target",
            "net:%s:%d" % (HOST, port), "--key", os.path.join(work, "agent"),
            "--receiver-key", os.path.join(work, "rx.pub"), "--net-retries", "1"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--agent-size-mb", type=int, default=64)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    base = os.path.join(build, "net-bench")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    work = tempfile.mkdtemp(dir=base)
    sv = os.path.join(build, "salvage")
    for k, label in (("rx", "bench-rx"), ("agent", "bench-agent")):
        subprocess.run([sv, "keygen", "-o", os.path.join(work, k), "--label", label],
                       check=True, stdout=subprocess.DEVNULL)
    shutil.copy(os.path.join(work, "agent.pub"), os.path.join(work, "auth"))
    data = os.path.join(work, "data.bin")
    with open(data, "wb") as f:
        for _ in range(a.size_mb):
            f.write(os.urandom(1 << 20))
    rx = Receiver(build, work, "store")
    nbytes = os.path.getsize(data)
    ours, plain, xcha, ratio, xratio = [], [], [], [], []

    cpu = {"plain": [], "ours": [], "xchacha": []}

    def ours_once(env):
        ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r0 = cpu_secs(rx.p.pid)
        t0 = time.time()
        r = subprocess.run(send_cmd(build, work, rx.port, data), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        secs = time.time() - t0
        if r.returncode:
            raise SystemExit("net-bench: send failed: " + r.stderr.strip()[-300:])
        ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c = (ch1.ru_utime - ch0.ru_utime) + (ch1.ru_stime - ch0.ru_stime) + \
            cpu_secs(rx.p.pid) - r0
        rx.clear()
        return nbytes / 1e6 / secs, c

    xenv = dict(os.environ, SALVAGE_NET_CIPHER="xchacha")
    try:
        for i in range(a.repeat):
            # paired, interleaved: the order alternates from round to round
            runs = [("plain", None), ("ours", None), ("xchacha", xenv)]
            if i % 2:
                runs.reverse()
            got = {}
            for name, env in runs:
                if name == "plain":
                    secs, c = plain_copy(data, os.path.join(rx.dir, "plain.out"))
                    got[name] = nbytes / 1e6 / secs
                else:
                    got[name], c = ours_once(env)
                cpu[name].append(c)
            plain.append(got["plain"])
            ours.append(got["ours"])
            xcha.append(got["xchacha"])
            ratio.append(got["ours"] / got["plain"])
            xratio.append(got["xchacha"] / got["plain"])
        idle = hwm_kib(rx.p.pid, "VmRSS")
        rx.stop()

        # memory: a fresh receiver, N agents at once
        small = os.path.join(work, "agent.bin")
        with open(small, "wb") as f:
            for _ in range(a.agent_size_mb):
                f.write(os.urandom(1 << 20))
        rx = Receiver(build, work, "store8")
        base_rss = hwm_kib(rx.p.pid, "VmRSS")
        t0 = time.time()
        procs = [subprocess.Popen(send_cmd(build, work, rx.port, small),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(a.agents)]
        bad = [p for p in procs if p.wait() != 0]
        secs = time.time() - t0
        peak = hwm_kib(rx.p.pid)
        stored = len([e for e in os.listdir(rx.dir) if e != ".incoming"])
        rx.stop()
    finally:
        try:
            rx.stop()
        except Exception:
            pass
    med = statistics.median
    rounds = lambda v, f="%.0f": ", ".join(f % x for x in v)
    print("net-bench: %d MiB of random bytes on 127.0.0.1, %d paired rounds (medians)" %
          (a.size_mb, a.repeat))
    print("  salvage-capture --send -> salvage receive, AES-256-GCM:  %7.1f MB/s  (rounds: %s)" %
          (med(ours), rounds(ours)))
    print("  the same, XChaCha20-Poly1305:                            %7.1f MB/s  (rounds: %s)" %
          (med(xcha), rounds(xcha)))
    print("  plain TCP copy:                                         %7.1f MB/s  (rounds: %s)" %
          (med(plain), rounds(plain)))
    print("    (sendfile; written into a file on the receiver's file system, one fsync,")
    print("    rename, directory fsync: the final durability of a stored dump)")
    print("  ratio AES-256-GCM: %.2f of the plain copy (median of rounds: %s; goal: at least 0.80)" %
          (med(ratio), rounds(ratio, "%.2f")))
    print("  ratio XChaCha20:   %.2f of the plain copy (median of rounds: %s)" %
          (med(xratio), rounds(xratio, "%.2f")))
    gib = nbytes / float(1 << 30)
    print("  CPU seconds per GiB, sender and receiver together (less load-sensitive): "
          "AES-256-GCM %.2f, XChaCha20 %.2f, plain copy %.2f" %
          (med(cpu["ours"]) / gib, med(cpu["xchacha"]) / gib, med(cpu["plain"]) / gib))
    print("  receiver idle RSS %.1f MiB" % (idle / 1024.0))
    print("net-bench: %d agents at once, %d MiB each: %d stored, %d failed, %.1f s, "
          "%.0f MB/s in all" % (a.agents, a.agent_size_mb, stored, len(bad), secs,
                                a.agents * a.agent_size_mb * 1.048576 / secs))
    print("  receiver peak RSS %.1f MiB (%.1f MiB before), %.2f MiB per connection" %
          (peak / 1024.0, base_rss / 1024.0, (peak - base_rss) / 1024.0 / a.agents))
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad or stored != a.agents else 0)


if __name__ == "__main__":
    main()
