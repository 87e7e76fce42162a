/* SPDX-License-Identifier: MIT */
/*
 * The jobs that read snapshots (snapshot-query.c), for a snapshot name
 * (as the caller gave it) already resolved to dir and authorised.  Each
 * reports through cb->done (doc/rpc.md gives the results):
 *   info    the snapshot object, with its owner and, for format 2, its
 *           store usage
 *   list    {"snapshots": [...]}: the named snapshots the caller may see
 *   verify  every chunk's hash checked; BadSnapshot if one is wrong
 *   check   could this host restore it: {"restorable", "checks"}
 * A missing snapshot is NoSuchSnapshot, a corrupt one BadSnapshot.
 */
#ifndef SBUMLD_SNAPSHOT_QUERY_H
#define SBUMLD_SNAPSHOT_QUERY_H

#include "snapshot-job.h"

void	snapshot_info_start(const char *name, const char *dir,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
void	snapshot_list_start(const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);
void	snapshot_verify_start(const char *name, const char *dir,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
void	snapshot_check_start(const char *name, const char *dir,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);

#endif
