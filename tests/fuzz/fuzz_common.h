/* fuzz_common.h - shared by the libFuzzer harnesses: open a dump from memory
 * and touch everything a reader would. */
#ifndef SALVAGE_FUZZ_COMMON_H
#define SALVAGE_FUZZ_COMMON_H

#include "../../vmcore/vmcore.h"
#include <stdlib.h>
#include <string.h>

/* Pages read per input: enough to reach past the first descriptors and
 * segments, bounded so one input cannot take seconds. */
#define FUZZ_MAX_PAGES 2048

static void fuzz_exercise(const uint8_t *data, size_t size)
{
	vmc_dump *d = vmc_dump_create();
	uint8_t *page;
	uint64_t u;
	int64_t n;

	if (!d)
		return;
	if (vmc_open_mem(d, data, size) < 0) {
		(void)vmc_errmsg(d);
		vmc_dump_destroy(d);
		return;
	}
	page = malloc(vmc_page_size(d));
	if (page) {
		uint64_t max = vmc_max_pfn(d), done = 0;
		for (size_t r = 0; r < vmc_range_count(d) && done < FUZZ_MAX_PAGES; r++) {
			const struct vmc_range *rg = &vmc_ranges(d)[r];
			for (uint64_t p = rg->start / vmc_page_size(d);
			     p < max && p * vmc_page_size(d) < rg->end && done < FUZZ_MAX_PAGES;
			     p++, done++) {
				(void)vmc_page_state(d, p);
				(void)vmc_read_page(d, p, page);
			}
		}
		(void)vmc_read_phys(d, 0x1000 - 3, page, 16);
		free(page);
	}
	for (size_t i = 0; i < vmc_cpu_count(d); i++)
		(void)vmc_cpu(d, i)->regs[VMC_REG_RIP];
	(void)vmc_vmci_symbol(d, "init_uts_ns", &u);
	(void)vmc_vmci_number(d, "phys_base", &n);
	(void)vmc_vmci_crashtime(d, &n);
	(void)vmc_xen(d);
	vmc_dump_destroy(d);
}

/* Run fuzz_exercise on a copy of data whose first bytes are forced to sig,
 * so that mutations stay inside one format's parser. */
static void fuzz_with_signature(const uint8_t *data, size_t size, const char *sig, size_t siglen)
{
	uint8_t *buf;

	if (size < 8 || size < siglen)
		return;
	buf = malloc(size);
	if (!buf)
		return;
	memcpy(buf, data, size);
	memcpy(buf, sig, siglen);
	fuzz_exercise(buf, size);
	free(buf);
}

#endif
