/* SPDX-License-Identifier: MIT */
/*
 * The image.* methods: the named guest images in <state_dir>/images that
 * `sbumlctl image build` makes and machine.boot's "image" may name
 * (doc/rpc.md).
 */
#include <stddef.h>

#include "machine-image.h"
#include "rpc-methods.h"

static const struct rpc_param no_params[] = {
	{ NULL, 0, 0, 0, 0, 0 }
};

/*
 * image.list: {"images": [...]}.  Anyone's: every caller may boot a named
 * image (they are root's, made for everyone, like the default image).
 */
int
rpc_image_list(struct rpc_call *call, struct json_object *params)
{
	struct json_object	*res, *arr;
	int			 r;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	if ((r = machine_image_list(&arr)) < 0) {
		rpc_error_errno(call, RPC_E_IO_ERROR, r, "cannot list the images");
		return (0);
	}
	res = json_object_new_object();
	json_object_object_add(res, "images", arr);
	rpc_reply(call, res);
	return (0);
}
