/* SPDX-License-Identifier: MIT */
/*
 * The pager of a lazy restore, seen from sbumld (doc/restore.md, "Lazy
 * restore"): sbuml-pager (pager-core.h, pager-main.c) spawned per
 * restore, its status channel read on the event loop into the machine's
 * fill.  The pager is a process of its own so that it, and the machine,
 * outlive a daemon restart; a restarted daemon follows it through the
 * machine's fill.json (machine-fill.c).
 */
#ifndef SBUMLD_SNAPSHOT_PAGER_H
#define SBUMLD_SNAPSHOT_PAGER_H

#include <stddef.h>
#include <json-c/json.h>

#include "machine.h"
#include "pager-core.h"

#define PAGER_PROGRAM		"sbuml-pager"

/*
 * The pager program: sbuml-pager beside the running sbumld if there is
 * one (a build tree; installed, sbumld's directory is root's), else
 * SBUML_LIBEXECDIR/sbuml-pager.  Caller frees.
 */
char	*snapshot_pager_path(void);

/*
 * Spawn the pager of a lazy restore of machine m: entry is the checked
 * store entry of the snapshot's physmem (name for messages), sock the
 * pager's end of the socket pair (taken, closed here), fill the status it
 * keeps up to date (a reference is taken).  Until the pager's status
 * channel ends, the daemon holds a store reader (store_reader_begin).
 * 0, or -errno with a message in err.  Event loop only.
 */
int	snapshot_pager_start(struct machine *m, const char *name,
	    struct json_object *entry, int sock, struct machine_fill *fill,
	    char *err, size_t errlen);

#endif
