/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the lazy restore pager's hello parser (snapshot-pager.c): the one
 * message a restored kernel sends its pager, hostile input for sbumld.  The
 * first 8 bytes of the input are the physmem size the pager expects (so
 * both sides of the size checks are reached); the rest is the message.
 * What it accepts must keep every promise the pager relies on.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "snapshot-pager.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pager_hello	 h;
	struct pager_vma	*v = NULL;
	uint64_t		 psize = 0;
	char			 err[512] = "";

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		psize = psize << 8 | data[i];
	if (snapshot_pager_parse_hello(data + 8, size - 8, psize, &h, &v, err,
	    sizeof(err)) < 0) {
		if (v != NULL || err[0] == '\0')
			abort();	/* refused: nothing handed over, a reason given */
		return 0;
	}
	if (h.nvmas == 0 || h.nvmas > PAGER_MAX_VMAS || h.physmem_size != psize)
		abort();
	for (uint32_t i = 0; i < h.nvmas; i++) {
		/* Every page of every mapping is a page of the file. */
		if (v[i].start >= v[i].end || v[i].start % PAGER_PAGE ||
		    v[i].end % PAGER_PAGE || v[i].off % PAGER_PAGE ||
		    v[i].off + (v[i].end - v[i].start) > psize ||
		    v[i].off + (v[i].end - v[i].start) < v[i].off)
			abort();
	}
	free(v);
	return 0;
}
