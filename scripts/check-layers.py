#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fail when a lower layer of sbumld uses a higher one (doc/architecture.md).

    check-layers.py [--stamp FILE] NM LAYER=LIB[:DEP,DEP...] ...

Each LAYER names its static library and the layers it may use.  For every
symbol a library's objects leave undefined that another layer's library
defines, that other layer must be one of the allowed ones: otherwise an arrow
points up, and every such use is printed (object, symbol, defining layer).
"""
import os
import subprocess
import sys


def symbols(nm, lib):
    """(defined: {symbol}, undefined: [(object, symbol)]) of a static library."""
    out = subprocess.run([nm, '-A', '-g', lib], check=True,
                         capture_output=True, text=True).stdout
    defined, undefined = set(), []
    for line in out.splitlines():
        # "lib.a:obj.o: 0000 T name" or "lib.a:obj.o:                  U name"
        where, _, rest = line.rpartition(': ')
        if not where:
            where, _, rest = line.partition(':')
        parts = rest.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1]
        obj = os.path.basename(where.rstrip(':').rsplit(':', 1)[-1])
        if kind == 'U':
            undefined.append((obj, name))
        elif kind not in ('w', 'v'):
            defined.add(name)
    return defined, undefined


def main(argv):
    stamp = None
    if len(argv) > 2 and argv[1] == '--stamp':
        stamp, argv = argv[2], [argv[0]] + argv[3:]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    nm = argv[1]
    layers = {}
    for spec in argv[2:]:
        name, _, rest = spec.partition('=')
        lib, _, deps = rest.partition(':')
        layers[name] = (lib, set(d for d in deps.split(',') if d))
    owner, uses = {}, {}
    for name, (lib, _) in layers.items():
        defined, undefined = symbols(nm, lib)
        for sym in defined:
            owner[sym] = name
        uses[name] = undefined
    bad = []
    for name, undefined in uses.items():
        allowed = layers[name][1] | {name}
        for obj, sym in undefined:
            other = owner.get(sym)
            if other is not None and other not in allowed:
                bad.append(f'{name}/{obj}: uses {sym} of layer {other}')
    if bad:
        print('check-layers: arrows pointing up (a layer may use only '
              'the layers below it):', file=sys.stderr)
        for b in sorted(set(bad)):
            print('  ' + b, file=sys.stderr)
        return 1
    print(f'check-layers: {len(layers)} layers, no arrow points up')
    if stamp:
        with open(stamp, 'w') as f:
            f.write('ok\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
