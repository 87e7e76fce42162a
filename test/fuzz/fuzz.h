/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry point every harness in test/fuzz/ defines.  Built
 * two ways (test/fuzz/meson.build): with clang and -fsanitize=fuzzer as a
 * fuzzer (scripts/fuzz.sh, bench/fuzz.sh), and with replay.c's main() as a
 * normal unit test that runs the committed corpus and every kept crash
 * input (regressions/) once.
 */
#ifndef SBUML_FUZZ_H
#define SBUML_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
