/* SPDX-License-Identifier: MIT */
/*
 * The one SIGCHLD handler of sbumld (OpenSMTPD's children tree, tmux's
 * server_child_signal): every exited child is reaped here, and a child
 * registered with child_watch() has its exit status handed to its owner.
 * Unregistered children (there should be none) are reaped and logged, so
 * no zombie stays.  The machine code registers its UML processes here
 * (machine-start.c), the network code its dnsmasq (net/); machine_registry_init
 * installs the handler.  It lives in base/ so every layer may watch a child.
 */
#ifndef SBUMLD_CHILD_H
#define SBUMLD_CHILD_H

#include <sys/types.h>

struct event_base;

/* Called once the child is reaped; status as from waitpid(). */
typedef void (*child_exit_cb)(pid_t pid, int status, void *arg);

/* Install the SIGCHLD event. 0 or -errno.  Idempotent. */
int	child_init(struct event_base *base);
/* Remove the event and forget every watch (children are not killed). */
void	child_shutdown(void);
/* Hand pid's exit status to cb. 0, -EEXIST if watched, -ENOSPC if full. */
int	child_watch(pid_t pid, child_exit_cb cb, void *arg);
/* Forget pid (someone else reaped it, or its owner went away). */
void	child_unwatch(pid_t pid);
/* Reap now (also what the SIGCHLD event runs); safe to call any time. */
void	child_reap(void);

#endif
