#pragma once
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, linked in by -sanitize=fuzzer): runs the fuzzing loop over `callback`
// with libFuzzer's own command-line flags. oomctl-fuzz's main calls it, because SwiftPM links an
// executable target's main itself and so libFuzzer's main cannot be the program's.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
