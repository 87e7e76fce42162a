/* SPDX-License-Identifier: MIT */
/* The owner record of a named snapshot; see snapshot-owner.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "log.h"
#include "snapshot-owner.h"
#include "util.h"

#define OWNER_FILE_MAX	4096

int
snapshot_owner_write(const char *dir, uid_t uid)
{
	char	*path, *text;
	int	 r;

	path = xasprintf("%s/%s", dir, SNAPSHOT_OWNER_FILE);
	text = xasprintf("{ \"uid\": %u }\n", (unsigned int)uid);
	r = write_file_atomic(path, text, strlen(text), 0600);
	free(text);
	free(path);
	return r;
}

uid_t
snapshot_owner_read(const char *dir)
{
	struct json_object	*obj, *v;
	char			*path, *buf = NULL;
	size_t			 len;
	int64_t			 uid = 0;
	int			 r;

	path = xasprintf("%s/%s", dir, SNAPSHOT_OWNER_FILE);
	r = read_file(path, OWNER_FILE_MAX, &buf, &len);
	if (r < 0) {
		if (r != -ENOENT)
			log_warnx("%s: %s, taking root as the owner", path,
			    strerror(-r));
		free(path);
		return 0;
	}
	obj = json_tokener_parse(buf);
	if (obj != NULL && json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "uid", &v) &&
	    json_object_is_type(v, json_type_int)) {
		uid = json_object_get_int64(v);
		if (uid < 0 || uid > (int64_t)UINT32_MAX - 1)
			uid = 0;
	} else
		log_warnx("%s: malformed, taking root as the owner", path);
	json_object_put(obj);
	free(buf);
	free(path);
	return (uid_t)uid;
}
