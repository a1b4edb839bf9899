/* fuzz_flat - libFuzzer harness: the flattened-stream index.  Every input is
 * given a valid flattened start header so mutations hit the record parser and
 * the last-write-wins resolution, then the reassembled file is read. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(4096 + size);
	if (!buf)
		return 0;
	memset(buf, 0, 4096);
	memcpy(buf, "makedumpfile", 12);
	buf[23] = 1;  /* type, big-endian */
	buf[31] = 1;  /* version */
	/* inputs that already are flattened streams keep their own records */
	if (size >= 4096 && memcmp(data, "makedumpfile", 12) == 0)
		memcpy(buf + 4096, data + 4096, size - 4096), size -= 4096;
	else if (size)
		memcpy(buf + 4096, data, size);
	fuzz_exercise(buf, 4096 + size);
	free(buf);
	return 0;
}
