/* SPDX-License-Identifier: MIT */
/* check-layers self-test: the lower layer calls up, which must be refused. */
int	layers_high_fn(void);
int	layers_low_fn(void);

int
layers_low_fn(void)
{
	return layers_high_fn() + 1;
}
