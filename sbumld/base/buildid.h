/* SPDX-License-Identifier: MIT */
/* Reading a kernel binary's identity: its ELF build-id (buildid.c). */
#ifndef SBUMLD_BUILDID_H
#define SBUMLD_BUILDID_H

#include <stddef.h>

/*
 * The GNU build-id note of the 64-bit ELF file at path, as lower-case hex
 * into buf (at least 2 * 64 + 1 bytes).  0, -ENOENT (no such file), -ENOEXEC
 * (not a 64-bit ELF), -ENODATA (no build-id) or other -errno.
 */
int	elf_build_id(const char *path, char *buf, size_t len);

#endif
