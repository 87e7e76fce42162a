# SPDX-License-Identifier: MIT
# Waiting for progress, never for a fixed time.
# Sourced by test/integration/lib.sh and bench/lib.sh.

# wait_until SECONDS CMD...: poll CMD every WAIT_POLL seconds (default 0.2)
# until it succeeds.  SECONDS is what it takes on a quiet host; the wait
# gives up only after 5 times that (at least SECONDS, at most 600 s beyond),
# since a loaded host must slow a test, never fail it.  It returns as soon
# as CMD succeeds, and no test waits for something that must not happen.
wait_until() {
	limit=$1; shift
	slack=$((limit * 4))
	[ "$slack" -le 600 ] || slack=600
	end=$(( $(date +%s) + limit + slack ))
	while [ "$(date +%s)" -lt "$end" ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep "${WAIT_POLL:-0.2}"
	done
	return 1
}
