/* fuzz_elf - libFuzzer harness: ELF header, program headers and segments, then page reads.
 * The signature is forced so mutations stay inside this parser. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	if (size < 8)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memcpy(buf, "\177ELF", 4);
	fuzz_exercise(buf, size);
	free(buf);
	return 0;
}
