/* fuzz_elf - libFuzzer harness: ELF header, program headers and segments, then page reads.
 * The signature is forced so mutations stay inside this parser. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_with_signature(data, size, "\177ELF", 4);
	return 0;
}
