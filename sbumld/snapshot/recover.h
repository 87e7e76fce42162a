/* SPDX-License-Identifier: MIT */
/*
 * Recovery after a crash of sbumld (kill -9, OOM killer, power loss): clean
 * up what a dead daemon left half-done (doc/snapshot-format.md, "Atomicity").
 *
 * A save works in a hidden directory ".<name>.partial-XXXXXX" beside the
 * snapshot's final place and a restore of a format 2 snapshot materialises
 * its capture into <state-dir>/store/tmp/restore-XXXXXX; a dead daemon leaves
 * both behind.  Named snapshots live in <state-dir>/snapshots/, where the
 * start-up scan finds their work directories; a path snapshot's work
 * directory can be anywhere, so the save journals it first: a symlink
 * <state-dir>/store/tmp/partial-<id> to the work directory, made durable
 * before the directory exists and dropped once it is gone or renamed into
 * place.
 */
#ifndef SBUMLD_RECOVER_H
#define SBUMLD_RECOVER_H

/*
 * Like mkdtemp(3) for an absolute tmpl ending in "XXXXXX" (filled in), but
 * journal the directory (durably) before creating it, so that recover_run()
 * removes it if the daemon dies before recover_journal_drop().  The basename
 * must be ".<name>.partial-XXXXXX".  0 or -errno.
 */
int	recover_journal_mkdtemp(char *tmpl);
/*
 * The same for a file: journal it, then create it (O_EXCL, O_NOFOLLOW,
 * mode 0600) and set *ret_fd (write only).  For an export's temporary
 * file ".<name>.partial-XXXXXX"; drop the entry with recover_journal_drop
 * once the file is renamed into place or removed.  0 or -errno.
 */
int	recover_journal_mkstemp(char *tmpl, int *ret_fd);
/*
 * Forget the journal entry of work directory (or file) dir: call once the directory
 * is removed or renamed into place.  No entry is fine.  0 or -errno.
 */
int	recover_journal_drop(const char *dir);

/*
 * Once at start-up, before any request is served: remove every unfinished
 * save's work directory (named and journaled), every restore's materialised
 * capture, and the chunk and kernel temporary files a dead writer left.
 * Takes <state-dir>/lock for the daemon's lifetime first and does nothing
 * if another sbumld holds it (its jobs may be running).  Logs one line per
 * item removed.  0 or -errno (the daemon runs on either way).
 */
int	recover_run(void);

#endif
