/* fuzz_xcore - libFuzzer harness: Xen guest cores (xl dump-core, vmcore/xen-core*.c):
 * section headers, .note.Xen, the pfn table, vCPU contexts, the VMCOREINFO
 * scan, then page reads and a virtual read through the guest's page tables.
 * The ELF signature, ET_CORE and e_phnum 0 are forced so mutations stay in
 * the dump-core parser. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	if (size < 64)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memcpy(buf, "\177ELF", 4);
	buf[16] = 4;                       /* ET_CORE */
	buf[17] = 0;
	buf[56] = buf[57] = 0;             /* no program headers */
	fuzz_exercise(buf, size);

	vmc_dump *d = vmc_dump_create();
	if (d && vmc_open_mem(d, buf, size) == VMC_OK) {
		const struct vmc_xen_core *x = vmc_xen_core(d);
		uint8_t b[64];
		uint64_t m;
		if (x)
			for (size_t i = 0; i < x->nvcpus; i++)
				(void)x->vcpus[i].cr3_pfn;
		(void)vmc_xen_core_pfn_to_mfn(d, 0, &m);
		(void)vmc_xen_core_mfn_to_pfn(d, m, &m);
		(void)vmc_read_virt(d, 0xffff888000001000ULL, b, sizeof(b));
		(void)vmc_read_virt(d, 0xffffea0000000000ULL, b, sizeof(b));
	}
	vmc_dump_destroy(d);
	free(buf);
	return 0;
}
