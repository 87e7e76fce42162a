#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A minimal in-memory stand-in for sbumld (doc/rpc.md) so test-cli.sh can
# check sbumlctl's output, exit codes and path handling without UML.
# Usage: fake-sbumld.py SOCKET-PATH   (serves until killed)
import itertools, json, os, shutil, socket, sys, threading, time
path = sys.argv[1]
machines = {}
snaps = {}                      # id (name or absolute path) -> snapshot object
unique = itertools.count(1)
subs = []
lock = threading.Lock()
def err(code, name, msg, **data):
    return {"code": code, "message": msg, "data": dict(name=name, **data)}
def notify(state_ev):
    line = (json.dumps({"jsonrpc": "2.0", "method": "machine.state", "params": state_ev}) + "\n").encode()
    for s in list(subs):
        try: s.sendall(line)
        except OSError: subs.remove(s)
def setstate(m, st):
    prev = m["state"]; m["state"] = st
    if st in ("stopped",): m.pop("pid", None); m["exit"] = {"status": 0, "signal": 0}
    notify({"machine": m["machine"], "state": st, "previous": prev})
def find_snap(ident):
    if ident in snaps: return snaps[ident]
    if ident.startswith("/") and os.path.isfile(os.path.join(ident, "manifest.json")):
        return {"snapshot": ident, "path": ident, "state": "running", "created": "2026-11-27T18:45:00Z"}
    raise KeyError(err(-32008, "NoSuchSnapshot", f"no snapshot {ident}"))
def send_progress(conn, params):
    conn.sendall((json.dumps({"jsonrpc": "2.0", "method": "job.progress", "params": params}) + "\n").encode())
def snapshot(conn, meth, p):
    if meth == "snapshot.list":
        return {"snapshots": [snaps[k] for k in sorted(snaps) if not k.startswith("/")]}
    if meth == "snapshot.save":
        name = p.get("machine")
        if name not in machines: raise KeyError(err(-32001, "NoSuchMachine", f"no machine named {name}"))
        m = machines[name]
        if m["state"] not in ("running", "paused"): raise KeyError(err(-32003, "BadState", f"{name} is {m['state']}"))
        if "snapshot" in p and "prefix" in p: raise KeyError(err(-32602, "InvalidParams", "snapshot and prefix"))
        for k in ("snapshot", "prefix"):
            if k in p and "/" in p[k] and not p[k].startswith("/"):
                raise KeyError(err(-32602, "InvalidParams", f"{k} path must be absolute", param=k))
        tag = f"20261127T184500Z-{next(unique):04x}"
        ident = p.get("snapshot") or (p["prefix"] + "-" + tag if "prefix" in p else os.path.basename(name) + "-" + tag)
        if ident in snaps or os.path.exists(ident): raise KeyError(err(-32009, "SnapshotExists", f"{ident} exists"))
        where = ident if ident.startswith("/") else "/tmp/st/snapshots/" + ident
        for ph, b in (("capturing", 0), ("writing", 1048576), ("done", 2097152)):
            send_progress(conn, {"job": "save", "machine": name, "snapshot": ident, "phase": ph, "bytes": b})
        state = "running" if m["state"] == "running" and p.get("continue", True) else "paused"
        if not p.get("continue", True) and m["state"] == "running": setstate(m, "paused")
        if ident.startswith("/"):
            os.mkdir(ident)
            with open(os.path.join(ident, "manifest.json"), "w") as f: f.write("{}\n")
        snaps[ident] = {"snapshot": ident, "path": where, "created": "2026-11-27T18:45:00Z",
                        "machine": {"machine": name, "mem_mb": m["mem_mb"]}, "state": state,
                        "kernel": {"build_id": "ab12"},
                        "timings": {"pause_us": 9000, "copy_us": 6000, "total_us": 25000},
                        "sizes": {"physmem": 20000000, "private": 2600000, "disk": 1048576},
                        "disk_usage": 24000000}
        if "capture" in p:                 # a paused machine has nothing to gain: staged
            if p["capture"] not in ("staged", "cow"): raise KeyError(err(-32602, "InvalidParams", "capture", param="capture"))
            cow = p["capture"] == "cow" and state == "running" and m["state"] == "running"
            snaps[ident]["capture"] = {"method": "cow", "asked": "cow", "wp_us": 5100} if cow else \
                dict({"method": "staged", "asked": p["capture"]}, **({"fallback": "stopped"} if p["capture"] == "cow" else {}))
        return snaps[ident]
    ident = p.get("snapshot", "")
    if "/" in ident and not ident.startswith("/"):
        raise KeyError(err(-32602, "InvalidParams", "snapshot path must be absolute", param="snapshot"))
    s = find_snap(ident)
    if meth == "snapshot.info": return s
    if meth == "snapshot.check":           # a snapshot whose path ends in "nocpu" lacks avx512f here
        bad = ident.endswith("nocpu")
        return {"snapshot": ident, "restorable": not bad, "checks": [
            {"check": "kernel", "ok": True, "detail": "build ab12: /usr/libexec/sbuml/linux-sbuml"},
            {"check": "cpu", "ok": not bad, "detail": "this host's CPU lacks features of the saving host: cpuid 7 ebx 0x00010000 (avx512f)"
             if bad else "this host's CPU has every CPUID 1 and 7 feature of the saving host"}]}
    if meth == "snapshot.delete":
        snaps.pop(ident, None)
        if ident.startswith("/"): shutil.rmtree(ident)
        return {"deleted": ident}
    if meth == "snapshot.restore":
        name = p.get("machine", "")
        if name in machines: raise KeyError(err(-32002, "MachineExists", f"machine {name} exists"))
        if "/" in name and not name.startswith("/"):
            raise KeyError(err(-32602, "InvalidParams", "machine path must be absolute", param="machine"))
        m = {"machine": name, "dir": name if "/" in name else "/tmp/st/machines/" + name,
             "state": "running" if p.get("continue", True) else "paused", "pid": 4343, "mem_mb": 64,
             "restored_from": s["path"]}
        machines[name] = m
        return m
    raise KeyError({"code": -32601, "message": "no such method", "data": {"name": "MethodNotFound"}})
def handle(conn, req):
    meth = req.get("method"); p = req.get("params") or {}
    name = p.get("machine")
    if meth.startswith("snapshot."): return snapshot(conn, meth, p)
    if meth == "daemon.ping": return {"pong": True}
    if meth == "daemon.version": return {"version": "0.1.0", "api": 1, "kernel": "/usr/bin/linux.uml", "image": "/x.img", "state_dir": "/tmp/st"}
    if meth == "events.subscribe": subs.append(conn); return {"subscribed": True}
    if meth == "machine.list": return {"machines": [machines[k] for k in sorted(machines)]}
    if meth == "machine.boot":
        if name in machines and machines[name]["state"] not in ("stopped", "crashed"):
            raise KeyError(err(-32002, "MachineExists", f"machine {name} is {machines[name]['state']}"))
        if "/" in name and not name.startswith("/"):
            raise KeyError(err(-32602, "InvalidParams", "machine path must be absolute", param="machine"))
        m = {"machine": name, "dir": name if "/" in name else "/tmp/st/machines/" + name, "state": "booting",
             "pid": 4242, "mem_mb": p.get("mem_mb", 128), "image": p.get("image", "/x.img"),
             "kernel": p.get("kernel", "/usr/bin/linux.uml"), "savable": False, "uffd": False, "cmdline": p.get("cmdline", ""),
             "disks": p.get("disks", []), "created": "2026-11-27T18:40:00Z"}
        machines[name] = m; notify({"machine": name, "state": "booting", "previous": "stopped"}); setstate(m, "running"); m["pid"] = 4242
        return m
    if name not in machines: raise KeyError(err(-32001, "NoSuchMachine", f"no machine named {name}"))
    m = machines[name]
    if meth == "machine.info":
        if name == "slow": time.sleep(2)
        if name == "garbage": conn.sendall(b"garbage\n"); return None
        return m
    if meth == "machine.pause":
        if m["state"] != "running": raise KeyError(err(-32003, "BadState", f"{name} is {m['state']}", state=m["state"]))
        setstate(m, "paused"); return m
    if meth == "machine.resume": setstate(m, "running"); return m
    if meth in ("machine.halt", "machine.kill"): setstate(m, "stopped"); return m
    if meth == "machine.console":
        m.setdefault("n", 0); m["n"] += 3
        lines = [f"line {i}" for i in range(m["n"])]
        return {"lines": lines[-p.get("lines", 50):]}
    if meth == "machine.delete": del machines[name]; return {"deleted": name}
    raise KeyError({"code": -32601, "message": "no such method", "data": {"name": "MethodNotFound"}})
def serve(conn):
    for line in conn.makefile("rb"):
        req = json.loads(line)
        with lock:
            try:
                result = handle(conn, req)
                if result is None:       # garbage already sent instead
                    continue
                resp = {"jsonrpc": "2.0", "id": req.get("id"), "result": result}
            except KeyError as e:
                resp = {"jsonrpc": "2.0", "id": req.get("id"), "error": e.args[0]}
            try: conn.sendall((json.dumps(resp) + "\n").encode())
            except OSError: return       # the client gave up (timeout tests)
try: os.unlink(path)
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
