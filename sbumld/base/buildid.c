/* SPDX-License-Identifier: MIT */
/*
 * A snapshot can only be restored by the very kernel binary that wrote it
 * (the restore reuses its text in place), so sbumld compares ELF build-ids
 * before starting a restore.  This reads the NT_GNU_BUILD_ID note through
 * the program headers, which every linked executable has.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildid.h"
#include "util.h"

#define NOTE_MAX	(64 * 1024)

/* pread exactly len bytes at off. */
static int
read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -ENOEXEC;
}

/* Look for the GNU build-id in one PT_NOTE segment. */
static int
scan_notes(const unsigned char *p, size_t len, char *buf, size_t buflen)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr	*nh = (const void *)(p + off);
		size_t			 name = (nh->n_namesz + 3) & ~3U;
		size_t			 desc = (nh->n_descsz + 3) & ~3U;
		const unsigned char	*d;

		off += sizeof(*nh);
		/* Notes of other alignments than 4 do not parse: not ours, skip. */
		if (name > len - off || desc > len - off - name)
			return -ENODATA;
		d = p + off + name;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(p + off, "GNU", 4) == 0) {
			if (buflen < 2 * nh->n_descsz + 1)
				return -ENOBUFS;
			for (size_t i = 0; i < nh->n_descsz; i++)
				snprintf(buf + 2 * i, 3, "%02x", d[i]);
			return 0;
		}
		off += name + desc;
	}
	return -ENODATA;
}

int
elf_build_id(const char *path, char *buf, size_t len)
{
	Elf64_Ehdr	 eh;
	unsigned char	*note = NULL;
	int		 fd, r = -ENODATA;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = read_at(fd, &eh, sizeof(eh), 0)) < 0)
		goto out;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) {
		r = -ENOEXEC;
		goto out;
	}
	r = -ENODATA;
	for (unsigned int i = 0; i < eh.e_phnum && r == -ENODATA; i++) {
		Elf64_Phdr ph;
		int e;

		if ((e = read_at(fd, &ph, sizeof(ph),
		    (off_t)(eh.e_phoff + i * sizeof(ph)))) < 0) {
			r = e;
			break;
		}
		if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > NOTE_MAX)
			continue;
		note = xmalloc(ph.p_filesz);
		if ((e = read_at(fd, note, ph.p_filesz, (off_t)ph.p_offset)) < 0)
			r = e;
		else
			r = scan_notes(note, ph.p_filesz, buf, len);
		free(note);
		note = NULL;
	}
out:
	close(fd);
	return r;
}
