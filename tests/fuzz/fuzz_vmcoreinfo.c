/* fuzz_vmcoreinfo - libFuzzer harness: VMCOREINFO key/value parsing and the
 * typed look-ups. */
#include "../../vmcore/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "init_uts_ns", "phys_base", "page.flags",
					     "mem_section", "VMALLOC_START" };
	vmc_dump *d = vmc_dump_create();
	uint64_t u;
	int64_t n;

	if (!d)
		return 0;
	if (vmc_kv_parse(d, &d->vmci, (const char *)data, size, "VMCOREINFO") >= 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			(void)vmc_vmci_symbol(d, names[i], &u);
			(void)vmc_vmci_size(d, names[i], &u);
			(void)vmc_vmci_offset(d, names[i], &u);
			(void)vmc_vmci_length(d, names[i], &u);
			(void)vmc_vmci_number(d, names[i], &n);
		}
		(void)vmc_vmci_crashtime(d, &n);
		(void)vmc_vmci_kerneloffset(d, &u);
		for (size_t i = 0; i < vmc_vmcoreinfo_count(d); i++)
			(void)vmc_vmcoreinfo_entry(d, i)->value[0];
	}
	vmc_dump_destroy(d);
	return 0;
}
