# SPDX-License-Identifier: MIT
# Finding the host processes of the UML machines a test or benchmark started:
# every UML kernel, helper and stub runs with its machine directory as cwd.
# Sourced by test/integration/lib.sh and bench/lib.sh.

# Every process whose cwd lies under $1.
uml_pids_under() {
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case "$cwd" in "$1"|"$1"/*) echo "${p#/proc/}" ;; esac
	done
}
