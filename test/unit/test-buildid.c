/* SPDX-License-Identifier: MIT */
/* Unit test of buildid.c: the ELF build-id a restore is checked against. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildid.h"

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) passed++;						\
	else { failed++; fprintf(stderr, "%s:%d: FAIL: %s\n",		\
	    __FILE__, __LINE__, #cond); }				\
} while (0)

static char dir[] = "/tmp/sbuml-buildid.XXXXXX";

/* Write a minimal ELF64 file: one PT_NOTE with an odd note, then the build-id. */
static void
write_elf(const char *path, int with_id, int class64)
{
	struct {
		Elf64_Ehdr	eh;
		Elf64_Phdr	ph;
		Elf64_Nhdr	n1;
		char		n1name[4];
		char		n1desc[4];
		Elf64_Nhdr	n2;
		char		n2name[4];
		unsigned char	n2desc[20];
	} f;
	int fd;

	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = class64 ? ELFCLASS64 : ELFCLASS32;
	f.eh.e_phoff = offsetof(__typeof__(f), ph);
	f.eh.e_phentsize = sizeof(Elf64_Phdr);
	f.eh.e_phnum = 1;
	f.ph.p_type = PT_NOTE;
	f.ph.p_offset = offsetof(__typeof__(f), n1);
	f.ph.p_filesz = sizeof(f) - f.ph.p_offset;
	f.n1.n_namesz = 4;
	f.n1.n_descsz = 4;
	f.n1.n_type = 1;		/* some other note first */
	memcpy(f.n1name, "XYZ", 4);
	f.n2.n_namesz = 4;
	f.n2.n_descsz = 20;
	f.n2.n_type = with_id ? NT_GNU_BUILD_ID : 99;
	memcpy(f.n2name, "GNU", 4);
	for (int i = 0; i < 20; i++)
		f.n2desc[i] = (unsigned char)(i + 1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, &f, sizeof(f)) != (ssize_t)sizeof(f)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

int
main(int argc, char **argv)
{
	char	 id[160], path[256];
	FILE	*fp;

	(void)argc;
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/elf", dir);
	write_elf(path, 1, 1);
	CHECK(elf_build_id(path, id, sizeof(id)) == 0);
	CHECK(strcmp(id, "0102030405060708090a0b0c0d0e0f1011121314") == 0);
	CHECK(elf_build_id(path, id, 10) == -ENOBUFS);

	write_elf(path, 0, 1);
	CHECK(elf_build_id(path, id, sizeof(id)) == -ENODATA);
	write_elf(path, 1, 0);
	CHECK(elf_build_id(path, id, sizeof(id)) == -ENOEXEC);

	snprintf(path, sizeof(path), "%s/text", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL && fputs("#!/bin/sh\necho not an elf file at all\n", fp) >= 0);
	if (fp != NULL)
		fclose(fp);
	CHECK(elf_build_id(path, id, sizeof(id)) == -ENOEXEC);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK(elf_build_id(path, id, sizeof(id)) == -ENOENT);

	/* This very test program was linked with a build-id (gcc's default here). */
	CHECK(elf_build_id(argv[0], id, sizeof(id)) == 0 && strlen(id) == 40);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(system(path) == 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
