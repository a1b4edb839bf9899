/* fuzz_notes - libFuzzer harness: the ELF note parser and what is derived
 * from notes (CPU registers, VMCOREINFO, Xen CRASH_INFO/CRASH_REGS).  The first
 * byte picks the alignment hint; the rest is one note area. */
#include "../../vmcore/internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vmc_dump *d;
	size_t start = 0, len;
	uint64_t off = 0x1000;

	if (size < 1)
		return 0;
	d = vmc_dump_create();
	if (!d)
		return 0;
	len = size - 1;
	d->note_bytes = malloc(len ? len : 1);
	if (d->note_bytes) {
		memcpy(d->note_bytes, data + 1, len);
		d->note_len = len;
		if (vmc_notes_parse_areas(d, &start, &len, &off, 1, data[0] & 1 ? 8 : 4) >= 0 &&
		    vmc_notes_finish(d) >= 0) {
			for (size_t i = 0; i < vmc_note_count(d); i++)
				(void)vmc_note(d, i)->name[0];
			(void)vmc_vmcoreinfo_get(d, "OSRELEASE");
			(void)vmc_xen_vmcoreinfo_get(d, "PAGESIZE");
		}
	}
	vmc_dump_destroy(d);
	return 0;
}
