/* SPDX-License-Identifier: MIT */
/* check-layers self-test: a function of the upper layer. */
int	layers_high_fn(void);

int
layers_high_fn(void)
{
	return 1;
}
