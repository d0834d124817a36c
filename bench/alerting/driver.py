"""The driver of bench/alerting/run: starts Alertmanager, the collector,
the agent and the listener (all on loopback, in directory T), times RUNS
fault/heal rounds, and stops exactly the processes it started."""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

BIN, AM, T, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
EVALUATE_EVERY = 1.0
AIM = 2 * EVALUATE_EVERY + 1.0
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(name, argv):
    log = open(os.path.join(T, name + ".log"), "ab")
    p = subprocess.Popen(argv, cwd=T, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p):
    p.kill()
    p.wait()
    procs.remove(p)


def wait_for(what, cond, limit=30.0, step=0.02):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return time.monotonic()
        time.sleep(step)
    sys.exit("bench/alerting: timed out waiting for " + what)


PORT, CPORT, AMPORT = free_port(), free_port(), free_port()
LISTENER = ("import socket, sys\n"
            "s = socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
            "s.listen(512)\n"
            "while True:\n"
            "    c, _ = s.accept()\n"
            "    c.close()\n")


def listener():
    p = start("listener", [sys.executable, "-c", LISTENER, str(PORT)])

    def up():
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            return True
        except OSError:
            return False
    wait_for("the listener", up)
    return p


def active_alerts():
    try:
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/api/v2/alerts?active=true" % AMPORT, timeout=2) as r:
            alerts = json.load(r)
    except OSError:
        return None
    return [a for a in alerts
            if a["labels"].get("target") == "mail" and a["status"]["state"] == "active"]


def collector(*args):
    return subprocess.run([os.path.join(BIN, "vantage-collector"), "-c", "collector.conf"]
                          + list(args), cwd=T, capture_output=True, text=True)


def main():
    with open(os.path.join(T, "am.yml"), "w") as f:
        f.write('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    start("alertmanager", [AM, "--config.file=am.yml", "--storage.path=amdata",
                           "--web.listen-address=127.0.0.1:%d" % AMPORT,
                           "--cluster.listen-address="])
    wait_for("Alertmanager", lambda: active_alerts() is not None)
    subprocess.run([os.path.join(BIN, "vantage-collector"), "keygen", "--out", "keys"],
                   cwd=T, check=True, capture_output=True)
    subprocess.run([os.path.join(BIN, "vantage-agent"), "keygen", "--out", "ka"],
                   cwd=T, check=True, capture_output=True)
    with open(os.path.join(T, "ka", "agent.pub")) as f:
        pub = f.read().strip()
    with open(os.path.join(T, "authorized_keys"), "w") as f:
        f.write(pub + " a1\n")
    with open(os.path.join(T, "keys", "collector.pub")) as f:
        cpub = f.read().strip()
    with open(os.path.join(T, "collector.conf"), "w") as f:
        f.write("[collector]\nlisten = tcp://127.0.0.1:%d\ndatabase = vantage.db\n"
                "secret_key = keys/collector.key\nauthorized_keys = authorized_keys\n"
                "evaluate_every = 1s\n\n"
                "[target mail]\ncheck = tcp://127.0.0.1:%d\ninterval = 1s\ntimeout = 1s\n\n"
                "[notify ops]\nalertmanager = http://127.0.0.1:%d\ntimeout = 2s\n"
                % (CPORT, PORT, AMPORT))
    with open(os.path.join(T, "agent.conf"), "w") as f:
        f.write("[agent]\nname = a1\nsite = lab\ncollector = tcp://127.0.0.1:%d\n"
                "collector_public_key = %s\nsecret_key = ka/agent.key\nspool = spool.db\n"
                % (CPORT, cpub))
    lst = listener()
    start("collector", [os.path.join(BIN, "vantage-collector"), "-c", "collector.conf", "serve"])
    start("agent", [os.path.join(BIN, "vantage-agent"), "run", "-c", "agent.conf"])
    fire, heal = [], []
    for i in range(RUNS):
        # Healthy first: check says OK and Alertmanager has no active alert.
        wait_for("the target to be healthy",
                 lambda: collector("check", "mail").returncode == 0 and active_alerts() == [],
                 limit=60, step=0.2)
        # A random phase against the probe and evaluation ticks, as a real
        # fault has: up to one second.
        time.sleep((i * 0.37) % 1.0)
        t0 = time.monotonic()
        stop(lst)
        t1 = wait_for("the alert in Alertmanager", lambda: bool(active_alerts()))
        time.sleep((i * 0.61) % 1.0)
        # The heal is the moment the listener accepts (within one 20 ms
        # poll of its start), not the start of its process.
        lst = listener()
        t2 = time.monotonic()
        t3 = wait_for("the alert to end in Alertmanager", lambda: active_alerts() == [])
        fire.append(t1 - t0)
        heal.append(t3 - t2)
        print("run %d: fault -> alert active %.2f s; heal -> alert ended %.2f s"
              % (i + 1, fire[-1], heal[-1]), flush=True)
    print("fault -> Alertmanager: median %.2f s (min %.2f, max %.2f) over %d runs; "
          "aim 2 x evaluate_every + 1 s = %.1f s"
          % (statistics.median(fire), min(fire), max(fire), RUNS, AIM))
    print("heal -> alert ended:   median %.2f s (min %.2f, max %.2f) over %d runs; "
          "aim %.1f s" % (statistics.median(heal), min(heal), max(heal), RUNS, AIM))


try:
    main()
finally:
    for p in list(procs):
        stop(p)
