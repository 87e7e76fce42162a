/* SPDX-License-Identifier: MIT */
/*
 * The kernel binary a snapshot restores with (snapshot-kernel.h): an
 * installed one of the capture's build-id, or the one stored with a format
 * 2 snapshot, materialised from its chunks into <store>/kernels/<build-id>.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz-path.h"
#include "buildid.h"
#include "context.h"
#include "fsutil.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot-kernel.h"
#include "store.h"
#include "util.h"

/* A build-id as the manifest gives it: lower-case hex (it names a file). */
static bool
valid_build_id(const char *id)
{
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/*
 * Materialise the kernel binary stored with a format 2 snapshot (manifest
 * member k, build-id want) as <store>/kernels/<want>, checking every chunk,
 * unless it is there already.  0 and *ret (caller frees), -EBADMSG for a
 * corrupt or missing chunk, or another -errno; message in err.
 */
static int
kernel_from_store(struct json_object *k, const char *want, char **ret,
    char *err, size_t errlen)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *dir, *path, *tmp, id[160];
	int		 fd, r;

	if (!valid_build_id(want)) {
		snprintf(err, errlen, "the manifest's kernel build-id is malformed");
		free(root);
		return -EBADMSG;
	}
	dir = xasprintf("%s/kernels", root);
	path = xasprintf("%s/%s", dir, want);
	if (elf_build_id(path, id, sizeof(id)) == 0 && strcmp(id, want) == 0) {
		*ret = path;
		free(dir);
		free(root);
		return 0;
	}
	(void)mkdir_p(dir, 0700);
	s = store_open(root, err, errlen);
	free(root);
	tmp = xasprintf("%s/.%s.tmp-XXXXXX", dir, want);
	r = s == NULL ? -EIO : 0;
	if (r == 0 && (fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(-r));
	} else if (r == 0) {
		r = store_read_entry(s, "the kernel binary", k, fd, err, errlen);
		if (r == 0 && (fchmod(fd, 0755) < 0 || fsync(fd) < 0)) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", tmp, strerror(-r));
		}
		close(fd);
		if (r == 0 && rename(tmp, path) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		}
		if (r < 0)
			(void)unlink(tmp);
	}
	if (r == 0 && (elf_build_id(path, id, sizeof(id)) < 0 || strcmp(id, want) != 0)) {
		snprintf(err, errlen, "the kernel binary stored with the snapshot "
		    "does not have build-id %s", want);
		r = -EBADMSG;
	}
	store_free(s);
	free(tmp);
	free(dir);
	if (r == 0) {
		log_info("kernel %s materialised from the chunk store as %s", want, path);
		*ret = path;
	} else
		free(path);
	return r;
}

/*
 * The path a restore materialises the kernel of build want at, without
 * reading a chunk: *ret_src says whether it is there already.
 */
static int
kernel_locate(const char *want, char **ret, enum snapshot_kernel_source *ret_src,
    char *err, size_t errlen)
{
	char	*root, *path, id[160];

	if (!valid_build_id(want)) {
		snprintf(err, errlen, "the manifest's kernel build-id is malformed");
		return -EBADMSG;
	}
	root = snapshot_store_root();
	path = xasprintf("%s/kernels/%s", root, want);
	free(root);
	if (ret_src != NULL)
		*ret_src = elf_build_id(path, id, sizeof(id)) == 0 &&
		    strcmp(id, want) == 0 ? SNAPSHOT_KERNEL_STORE :
		    SNAPSHOT_KERNEL_CHUNKS;
	*ret = path;
	return 0;
}

/*
 * Check, without writing anything, that the kernel binary stored with a
 * format 2 snapshot (manifest member k) is whole and has build-id want:
 * either <store>/kernels/<want> is there already (*ret_src
 * SNAPSHOT_KERNEL_STORE), or the chunks decompress, hash right and make a
 * binary of that build (SNAPSHOT_KERNEL_CHUNKS; checked in a memfd, so a
 * check leaves the store as it was).  *ret is the path a restore uses
 * (caller frees).  0, -EBADMSG or another -errno; message in err.
 */
static int
kernel_in_store(struct json_object *k, const char *want, char **ret,
    enum snapshot_kernel_source *ret_src, char *err, size_t errlen)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *path, *fdpath = NULL, id[160];
	int		 fd = -1, r;

	if (!valid_build_id(want)) {
		snprintf(err, errlen, "the manifest's kernel build-id is malformed");
		free(root);
		return -EBADMSG;
	}
	path = xasprintf("%s/kernels/%s", root, want);
	if (elf_build_id(path, id, sizeof(id)) == 0 && strcmp(id, want) == 0) {
		*ret = path;
		*ret_src = SNAPSHOT_KERNEL_STORE;
		free(root);
		return 0;
	}
	s = store_open(root, err, errlen);
	free(root);
	r = s == NULL ? -EIO : 0;
	if (r == 0 && (fd = memfd_create("sbuml-kernel-check", MFD_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "memfd_create: %s", strerror(-r));
	}
	if (r == 0)
		r = store_read_entry(s, "the kernel binary", k, fd, err, errlen);
	if (r == 0) {
		fdpath = xasprintf("/proc/self/fd/%d", fd);
		if (elf_build_id(fdpath, id, sizeof(id)) < 0 || strcmp(id, want) != 0) {
			snprintf(err, errlen, "the kernel binary stored with the "
			    "snapshot does not have build-id %s", want);
			r = -EBADMSG;
		}
	}
	if (fd >= 0)
		close(fd);
	free(fdpath);
	store_free(s);
	if (r < 0) {
		free(path);
		return r;
	}
	*ret = path;
	*ret_src = SNAPSHOT_KERNEL_CHUNKS;
	return 0;
}

int
snapshot_kernel_find(struct json_object *man, enum snapshot_kernel_mode mode, char **ret,
    enum snapshot_kernel_source *ret_src, char *err, size_t errlen)
{
	struct json_object		*k, *mach, *chunks;
	const char			*want, *cands[2];
	char				 id[160];
	enum snapshot_kernel_source	 src = SNAPSHOT_KERNEL_INSTALLED;
	int				 r;

	if (!json_object_object_get_ex(man, "kernel", &k) ||
	    (want = snapshot_json_str(k, "build_id")) == NULL || *want == '\0') {
		snprintf(err, errlen, "the manifest records no kernel build-id");
		return -EBADMSG;
	}
	cands[0] = json_object_object_get_ex(man, "machine", &mach) ?
	    snapshot_json_str(mach, "kernel") : NULL;
	cands[1] = daemon_config.kernel;
	for (size_t i = 0; i < 2; i++) {
		if (cands[i] == NULL || elf_build_id(cands[i], id, sizeof(id)) < 0)
			continue;
		if (strcmp(id, want) == 0) {
			*ret = xstrdup(cands[i]);
			if (ret_src != NULL)
				*ret_src = src;
			return 0;
		}
	}
	if (json_object_object_get_ex(k, "chunks", &chunks)) {
		if (mode == SNAPSHOT_KERNEL_LOCATE)
			return kernel_locate(want, ret, ret_src, err, errlen);
		if (mode == SNAPSHOT_KERNEL_CHECK)
			return kernel_in_store(k, want, ret, ret_src != NULL ?
			    ret_src : &src, err, errlen);
		r = kernel_from_store(k, want, ret, err, errlen);
		if (r == 0 && ret_src != NULL)
			*ret_src = SNAPSHOT_KERNEL_STORE;
		return r;
	}
	snprintf(err, errlen, "the snapshot was written by kernel build %s, and "
	    "neither %s nor %s is that build: install the kernel it was saved with",
	    want, cands[0] ? cands[0] : "(none)", cands[1]);
	return -ENOEXEC;
}

/* May cred run kernel?  See snapshot-kernel.h. */
int
snapshot_kernel_authz(const struct ucred *cred, const char *kernel,
    struct authz_refusal *ref)
{
	char	*root = snapshot_store_root();
	char	*kernels = xasprintf("%s/kernels", root);
	int	 r;

	r = authz_path_kernel(cred, kernel, kernels, ref);
	free(kernels);
	free(root);
	return r;
}
