/* SPDX-License-Identifier: MIT */
/*
 * Named images (sbumld/machine/machine-image.c): the name rule, resolving a
 * name to its file without following a planted symlink or hard link, and
 * image.list's array (sorted, NAME.json merged, non-images left out).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "context.h"
#include "machine-image.h"
#include "util.h"

#include "test.h"
#include "test-tmpdir.h"

static char	dir[] = "/tmp/smiXXXXXX";

static void
put(const char *name, const char *text)
{
	char *p = xasprintf("%s/state/images/%s", dir, name);

	CHECK(write_file_atomic(p, text, strlen(text), 0644) == 0);
	free(p);
}

static void
test_names(void)
{
	static const char *const bad[] = { "", ".x", "-x", "_x", "a..b", "a/b",
	    "a b", "a;b", "x\n",
	    "01234567890123456789012345678901234567890123456789012345678901234" };
	static const char *const good[] = { "deb", "Deb-12.1_x", "0" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!machine_image_name_valid(bad[i]));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(machine_image_name_valid(good[i]));
}

static void
test_resolve_and_list(void)
{
	struct json_object *arr, *o, *v;
	char err[512], *path = NULL, *want, *lnk;

	/* No images directory yet: an empty list, and no such image. */
	CHECK(machine_image_list(&arr) == 0 && json_object_array_length(arr) == 0);
	json_object_put(arr);
	CHECK(machine_image_resolve("deb", &path, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "no image named deb") != NULL);

	want = xasprintf("%s/state/images", dir);
	CHECK(mkdir(want, 0700) == 0);
	free(want);
	put("deb.img", "image");
	put("deb.json", "{\"release\":\"bookworm\",\"name\":\"spoofed\"}");
	put("alpha.img", "image");
	put("alpha.json", "[not an object]");
	put("notes.txt", "x");
	/* A symlink and a hard link planted in the directory are no images. */
	lnk = xasprintf("%s/state/images/evil.img", dir);
	CHECK(symlink("/etc/shadow", lnk) == 0);
	free(lnk);
	want = xasprintf("%s/state/images/deb.img", dir);
	lnk = xasprintf("%s/state/images/hard.img", dir);
	CHECK(link(want, lnk) == 0 || errno == EPERM);

	CHECK(machine_image_resolve("evil", &path, err, sizeof(err)) == -ELOOP);
	CHECK(machine_image_resolve("hard", &path, err, sizeof(err)) < 0);
	CHECK(machine_image_resolve("../deb", &path, err, sizeof(err)) == -EINVAL);
	CHECK(machine_image_resolve("deb", &path, err, sizeof(err)) == -EMLINK);
	CHECK(unlink(lnk) == 0);
	free(lnk);
	CHECK(machine_image_resolve("deb", &path, err, sizeof(err)) == 0);
	CHECK_STR(path, want);
	free(path);
	free(want);

	CHECK(machine_image_list(&arr) == 0);
	CHECK(json_object_array_length(arr) == 2);
	o = json_object_array_get_idx(arr, 0);
	CHECK(json_object_object_get_ex(o, "name", &v) &&
	    strcmp(json_object_get_string(v), "alpha") == 0);
	CHECK(!json_object_object_get_ex(o, "release", NULL));
	o = json_object_array_get_idx(arr, 1);
	/* NAME.json adds members; it cannot rename the image. */
	CHECK(json_object_object_get_ex(o, "name", &v) &&
	    strcmp(json_object_get_string(v), "deb") == 0);
	CHECK(json_object_object_get_ex(o, "release", &v) &&
	    strcmp(json_object_get_string(v), "bookworm") == 0);
	CHECK(json_object_object_get_ex(o, "size_mb", &v) &&
	    json_object_get_int(v) == 0);
	json_object_put(arr);
}

int
main(void)
{
	if (test_tmpdir_begin(dir) < 0)
		return (1);
	daemon_config.state_dir = xasprintf("%s/state", dir);
	CHECK(mkdir_p(daemon_config.state_dir, 0700) == 0);
	test_names();
	test_resolve_and_list();
	free(daemon_config.state_dir);
	daemon_config.state_dir = NULL;
	test_tmpdir_end(dir);
	return (test_summary());
}
