/* fuzz_kdump - libFuzzer harness: kdump header, bitmaps and page descriptors, then page reads.
 * The signature is forced so mutations stay inside this parser. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_with_signature(data, size, "KDUMP   ", 8);
	return 0;
}
