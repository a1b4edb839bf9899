/* mmcheck - print the page classification the vmcore library computes for a
 * dump, for diffing against the generator's .mmexpect files.
 *
 *   mmcheck [--chunk N] [--fresh] [--reverse] [--counts] [--time] DUMP
 *   mmcheck --level L [--time] DUMP
 *   mmcheck --nr-free DUMP
 *
 * Output (tests/fixtures/README.md, "Page classification"):
 *   pfn A-B CLASS          runs of equal class over frames 0 .. max_pfn-1
 *   class CLASS: N         frames of each class (all frames below max_pfn)
 *   level L: excluded N    RAM frames dump level L drops (L = 2 4 8 16 31;
 *                          the zero-page bit is content-based and ignored)
 * --chunk N classifies N frames per vmc_mm_classify call (default 65536);
 * --fresh uses a new vmc_mm for every call (no state carried between calls);
 * --reverse makes the calls from the last chunk to the first; --counts leaves
 * out the runs; --time prints the classification time on stderr.
 * --level L prints only the frames dump level L drops, as runs "pfn A-B"
 * (for comparing with makedumpfile; tests/interop/classify.sh).
 * --nr-free prints the kernel's own count of free pages (the NR_FREE_PAGES
 * counters of all zones, read through VMCOREINFO) next to ours, as
 * "nr_free_pages KERNEL free OURS"; the kernel's misses per-CPU deltas not
 * yet folded in, so it is close, not always equal.
 * Warnings of the first vmc_mm_create go to stderr.
 * Exit 0 on success, 1 with "error: MESSAGE" on stdout otherwise.
 */
#include "../../vmcore/vmcore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCLASS (VMC_PC_NOMAP + 1)

static const int levels[] = { 2, 4, 8, 16, 31 };

static uint64_t rd64(vmc_dump *d, uint64_t va, int *bad)
{
	uint8_t b[8] = { 0 };
	if (vmc_read_virt(d, va, b, 8) != VMC_OK)
		*bad = 1;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* Sum of zone.vm_stat[NR_FREE_PAGES] over the zones of every node. */
static int kernel_nr_free(vmc_dump *d, int64_t *sum)
{
	uint64_t nd, len = 1, szone, ovs, onz, ozones;
	int64_t nfp;
	int bad = 0;
	bool array = vmc_vmci_symbol(d, "node_data", &nd) == VMC_OK;

	if (array)
		vmc_vmci_length(d, "node_data", &len);
	else if (vmc_vmci_symbol(d, "contig_page_data", &nd) != VMC_OK)
		return -1;
	if (vmc_vmci_size(d, "zone", &szone) || vmc_vmci_offset(d, "zone.vm_stat", &ovs) ||
	    vmc_vmci_offset(d, "pglist_data.nr_zones", &onz) ||
	    vmc_vmci_offset(d, "pglist_data.node_zones", &ozones) ||
	    vmc_vmci_number(d, "NR_FREE_PAGES", &nfp) || len > 1024)
		return -1;
	*sum = 0;
	for (uint64_t n = 0; n < len; n++) {
		uint64_t pg = array ? rd64(d, nd + 8 * n, &bad) : nd;
		if (bad)
			return -1;
		if (!pg)
			continue;
		uint64_t nz = rd64(d, pg + onz, &bad) & 0xffffffff;
		for (uint64_t z = 0; z < nz && z < 8; z++)
			*sum += (int64_t)rd64(d, pg + ozones + z * szone + ovs + 8 * (uint64_t)nfp, &bad);
		if (bad)
			return -1;
	}
	return 0;
}

static int fail(vmc_dump *d)
{
	printf("error: %s\n", vmc_errmsg(d));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t chunk = 65536;
	bool fresh = false, reverse = false, counts_only = false, timing = false;
	int level = -1;
	bool nr_free = false;
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--fresh"))
			fresh = true;
		else if (!strcmp(argv[i], "--reverse"))
			reverse = true;
		else if (!strcmp(argv[i], "--counts"))
			counts_only = true;
		else if (!strcmp(argv[i], "--time"))
			timing = true;
		else if (!strcmp(argv[i], "--nr-free"))
			nr_free = true;
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			level = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			path = NULL, i = argc;
	}
	if (!path || !chunk || level > 31) {
		fprintf(stderr, "usage: mmcheck [--chunk N] [--fresh] [--reverse] [--counts] [--time] DUMP\n"
			"       mmcheck --level L [--time] DUMP\n"
			"       mmcheck --nr-free DUMP\n");
		return 2;
	}
	vmc_dump *d = vmc_dump_create();
	if (!d)
		return 1;
	if (vmc_open_path(d, path) < 0) {
		int rc = fail(d);
		vmc_dump_destroy(d);
		return rc;
	}
	size_t nwarn = vmc_warning_count(d);
	vmc_mm *mm = NULL;
	if (vmc_mm_create(d, &mm) < 0) {
		int rc = fail(d);
		vmc_dump_destroy(d);
		return rc;
	}
	for (size_t i = nwarn; i < vmc_warning_count(d); i++)
		fprintf(stderr, "warning: %s\n", vmc_warning(d, i));

	uint64_t max = vmc_max_pfn(d);
	uint8_t *cls = malloc(max ? max : 1);
	if (!cls) {
		fprintf(stderr, "mmcheck: out of memory\n");
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t nchunks = (max + chunk - 1) / chunk;
	for (uint64_t k = 0; k < nchunks; k++) {
		uint64_t c = reverse ? nchunks - 1 - k : k;
		uint64_t s = c * chunk, n = max - s < chunk ? max - s : chunk;
		if (fresh && k) {
			vmc_mm_destroy(mm);
			mm = NULL;
			if (vmc_mm_create(d, &mm) < 0)
				return fail(d);
		}
		if (vmc_mm_classify(mm, s, n, cls + s) < 0)
			return fail(d);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (timing)
		fprintf(stderr, "classified %" PRIu64 " frames in %.3f s\n", max,
			(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	if (level >= 0) {
		for (uint64_t p = 0; p < max; p++) {
			if (!vmc_pclass_excluded(level, cls[p]))
				continue;
			uint64_t a = p;
			while (p + 1 < max && vmc_pclass_excluded(level, cls[p + 1]))
				p++;
			printf("pfn 0x%" PRIx64 "-0x%" PRIx64 "\n", a, p);
		}
		free(cls);
		vmc_mm_destroy(mm);
		vmc_dump_destroy(d);
		return 0;
	}
	if (nr_free) {
		int64_t k;
		uint64_t ours = 0;
		if (kernel_nr_free(d, &k) < 0) {
			printf("error: no NR_FREE_PAGES counters readable\n");
			return 1;
		}
		for (uint64_t p = 0; p < max; p++)
			ours += cls[p] == VMC_PC_FREE;
		printf("nr_free_pages %" PRId64 " free %" PRIu64 "\n", k, ours);
		free(cls);
		vmc_mm_destroy(mm);
		vmc_dump_destroy(d);
		return 0;
	}
	uint64_t count[NCLASS] = { 0 }, excl[sizeof(levels) / sizeof(levels[0])] = { 0 };
	const struct vmc_range *r = vmc_ranges(d);
	size_t nr = vmc_range_count(d), ri = 0;
	uint32_t ps = vmc_page_size(d);
	for (uint64_t p = 0; p < max; p++) {
		if (cls[p] >= NCLASS) {
			printf("error: frame 0x%" PRIx64 " has class %u\n", p, cls[p]);
			return 1;
		}
		count[cls[p]]++;
		while (ri < nr && r[ri].end <= p * ps)
			ri++;
		if (ri < nr && r[ri].start <= p * ps)
			for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
				excl[l] += vmc_pclass_excluded(levels[l], cls[p]);
		if (counts_only || (p + 1 < max && cls[p + 1] == cls[p]))
			continue;
		uint64_t a = p;
		while (a > 0 && cls[a - 1] == cls[p])
			a--;
		if (a == p)
			printf("pfn 0x%" PRIx64 " %s\n", p, vmc_pclass_name(cls[p]));
		else
			printf("pfn 0x%" PRIx64 "-0x%" PRIx64 " %s\n", a, p,
			       vmc_pclass_name(cls[p]));
	}
	for (int c = 0; c < NCLASS; c++)
		printf("class %s: %" PRIu64 "\n", vmc_pclass_name(c), count[c]);
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
		printf("level %d: excluded %" PRIu64 "\n", levels[l], excl[l]);
	free(cls);
	vmc_mm_destroy(mm);
	vmc_dump_destroy(d);
	return 0;
}
