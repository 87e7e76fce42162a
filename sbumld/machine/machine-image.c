/* SPDX-License-Identifier: MIT */
/* Named guest images in <state_dir>/images; see machine-image.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "context.h"
#include "fsat.h"
#include "machine-image.h"
#include "util.h"

/* NAME.json is a handful of members; anything bigger is not ours. */
#define IMAGE_JSON_MAX	(16 * 1024)

char *
machine_image_dir(void)
{
	return (xasprintf("%s/images", daemon_config.state_dir));
}

bool
machine_image_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MACHINE_IMAGE_NAME_MAX ||
	    !isalnum((unsigned char)name[0]) || strstr(name, "..") != NULL)
		return (false);
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
		    *p != '-')
			return (false);
	return (true);
}

int
machine_image_resolve(const char *name, char **ret_path, char *err,
    size_t errlen)
{
	char	*dir = machine_image_dir(), *file;
	int	 dfd, fd;

	if (!machine_image_name_valid(name)) {
		snprintf(err, errlen, "image must be an absolute path or an "
		    "image name (1 to %d letters, digits, '_', '.' or '-', "
		    "starting with a letter or digit): \"%s\"",
		    MACHINE_IMAGE_NAME_MAX, name);
		free(dir);
		return (-EINVAL);
	}
	file = xasprintf("%s.img", name);
	if ((dfd = fs_open_dir(dir, NULL, NULL)) < 0)
		fd = dfd;
	else {
		fd = fs_openat_file(dfd, file, O_RDONLY, 0);
		(void)close(dfd);
	}
	if (fd < 0) {
		if (fd == -ENOENT)
			snprintf(err, errlen, "no image named %s in %s (see "
			    "sbumlctl image list; sbumlctl image build %s)",
			    name, dir, name);
		else
			snprintf(err, errlen, "image %s/%s: %s", dir, file,
			    fs_strerror(fd));
		free(dir);
		free(file);
		return (fd);
	}
	(void)close(fd);
	*ret_path = xasprintf("%s/%s", dir, file);
	free(dir);
	free(file);
	return (0);
}

/* Add the members of dfd/NAME.json to obj; a bad or missing file adds none. */
static void
image_add_description(int dfd, const char *name, struct json_object *obj)
{
	char			*file = xasprintf("%s.json", name), *buf = NULL;
	struct json_object	*desc;
	size_t			 len;

	if (fs_read_file_at(dfd, file, IMAGE_JSON_MAX, &buf, &len) == 0 &&
	    (desc = json_tokener_parse(buf)) != NULL) {
		if (json_object_is_type(desc, json_type_object)) {
			json_object_object_foreach(desc, key, val) {
				if (json_object_object_get_ex(obj, key, NULL))
					continue;
				json_object_object_add(obj, key,
				    json_object_get(val));
			}
		}
		json_object_put(desc);
	}
	free(buf);
	free(file);
}

/* The object of image dfd/ent (NAME.img), or NULL if it is not an image. */
static struct json_object *
image_describe(int dfd, const char *dir, const char *ent)
{
	struct json_object	*obj;
	struct stat		 st;
	size_t			 len = strlen(ent);
	char			*name;
	int			 fd;

	if (len <= 4 || strcmp(ent + len - 4, ".img") != 0)
		return (NULL);
	name = xstrdup(ent);
	name[len - 4] = '\0';
	if (!machine_image_name_valid(name) ||
	    (fd = fs_openat_file(dfd, ent, O_RDONLY, 0)) < 0) {
		free(name);
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		(void)close(fd);
		free(name);
		return (NULL);
	}
	(void)close(fd);
	obj = json_object_new_object();
	json_object_object_add(obj, "name", json_object_new_string(name));
	json_object_object_add(obj, "path", json_object_new_string(dir));
	json_object_object_add(obj, "size_mb",
	    json_object_new_int64(st.st_size / (1024 * 1024)));
	json_object_object_add(obj, "disk_mb",
	    json_object_new_int64(st.st_blocks / 2048));
	image_add_description(dfd, name, obj);
	free(name);
	return (obj);
}

static int
image_cmp(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b;
	struct json_object *nx, *ny;

	(void)json_object_object_get_ex(*x, "name", &nx);
	(void)json_object_object_get_ex(*y, "name", &ny);
	return (strcmp(json_object_get_string(nx), json_object_get_string(ny)));
}

int
machine_image_list(struct json_object **ret)
{
	struct json_object	*arr = json_object_new_array(), *obj;
	struct dirent		*de;
	char			*dir = machine_image_dir(), *path;
	DIR			*d;
	int			 dfd, lfd;
	size_t			 n = 0;

	if ((dfd = fs_open_dir(dir, NULL, NULL)) < 0) {
		free(dir);
		if (dfd != -ENOENT) {
			json_object_put(arr);
			return (dfd);
		}
		*ret = arr;
		return (0);
	}
	/* fdopendir takes its own fd: the one for openat stays ours. */
	if ((lfd = dup(dfd)) == -1 || (d = fdopendir(lfd)) == NULL) {
		int r = -errno;

		if (lfd != -1)
			(void)close(lfd);
		(void)close(dfd);
		free(dir);
		json_object_put(arr);
		return (r);
	}
	while (n < MACHINE_IMAGE_LIST_MAX && (de = readdir(d)) != NULL) {
		path = xasprintf("%s/%s", dir, de->d_name);
		if ((obj = image_describe(dfd, path, de->d_name)) != NULL) {
			json_object_array_add(arr, obj);
			n++;
		}
		free(path);
	}
	(void)closedir(d);
	(void)close(dfd);
	free(dir);
	json_object_array_sort(arr, image_cmp);
	*ret = arr;
	return (0);
}
