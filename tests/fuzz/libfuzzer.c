/* libFuzzer entry point; BBO_FUZZ_TARGET names the target at build time. */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return BBO_FUZZ_TARGET(data, size);
}
