#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A minimal in-memory stand-in for sbumld (doc/rpc.md) so test-cli.sh can
# check sbumlctl's output, exit codes and path handling without UML.
# Usage: fake-sbumld.py SOCKET-PATH   (serves until killed)
import json, os, socket, sys, threading, time
path = sys.argv[1]
machines = {}
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
def handle(conn, req):
    meth = req.get("method"); p = req.get("params") or {}
    name = p.get("machine")
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
             "kernel": p.get("kernel", "/usr/bin/linux.uml"), "savable": False, "cmdline": p.get("cmdline", ""),
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
            conn.sendall((json.dumps(resp) + "\n").encode())
try: os.unlink(path)
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
