/* fuzz_capture.c - the capture writer's round trip: input -> salvage-capture
 * (cap_run) -> read back -> compare.
 *
 * The first byte chooses the options (format, flattened, level, codec, a
 * write failure); the rest is the source dump.  The rule checked: a capture
 * that ends CAP_OK or CAP_INCOMPLETE leaves an output the library opens, and
 * every page the output holds equals the source's page.  A CAP_OK output must
 * also hold every page it lists.  Anything else aborts (a finding).
 */
#include "../../capture/capture.h"
#include "../../vmcore/vmcore.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CMP_PAGES 4096

static void die(const char *what, uint64_t pfn, const char *msg)
{
	fprintf(stderr, "fuzz_capture: %s (pfn 0x%llx): %s\n", what, (unsigned long long)pfn,
		msg ? msg : "");
	abort();
}

static void compare(const uint8_t *data, size_t size, const char *out, enum cap_status st)
{
	vmc_dump *src = vmc_dump_create(), *dst = vmc_dump_create();
	uint8_t *a = NULL, *b = NULL;

	if (!src || !dst)
		goto done;
	if (vmc_open_mem(src, data, size) < 0)
		die("the source opened for capture but not for comparison", 0, vmc_errmsg(src));
	if (vmc_open_path(dst, out) < 0)
		die("capture succeeded but its output is unreadable", 0, vmc_errmsg(dst));
	if (vmc_page_size(dst) != vmc_page_size(src))
		die("page size changed", 0, NULL);
	a = malloc(vmc_page_size(src));
	b = malloc(vmc_page_size(src));
	if (!a || !b)
		goto done;
	uint64_t done = 0;
	for (size_t r = 0; r < vmc_range_count(dst) && done < FUZZ_CMP_PAGES; r++) {
		const struct vmc_range *rg = &vmc_ranges(dst)[r];
		for (uint64_t p = rg->start / vmc_page_size(dst);
		     p * vmc_page_size(dst) < rg->end && done < FUZZ_CMP_PAGES; p++, done++) {
			if (vmc_page_state(dst, p) != VMC_PAGE_PRESENT)
				continue;
			int rc = vmc_read_page(dst, p, b);
			if (rc == VMC_NOPAGE && st == CAP_INCOMPLETE)
				continue;
			if (rc != VMC_OK) {
				/* a page the source could not give is left out, not invented */
				if (rc == VMC_NOPAGE && vmc_read_page(src, p, a) != VMC_OK)
					continue;
				die("a listed page of the output cannot be read", p, vmc_errmsg(dst));
			}
			if (vmc_read_page(src, p, a) != VMC_OK)
				die("the output holds a page the source does not", p, NULL);
			if (memcmp(a, b, vmc_page_size(src)) != 0)
				die("a page differs from the source's", p, NULL);
		}
	}
done:
	free(a);
	free(b);
	vmc_dump_destroy(src);
	vmc_dump_destroy(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int levels[4] = { 0, 1, 31, 17 };
	static const unsigned codecs[4] = { VMC_COMP_ZSTD, VMC_COMP_ZLIB, 0, VMC_COMP_SNAPPY };
	char in[64], dir[] = "/tmp/fuzz_capture.XXXXXX", out[96];
	struct cap_options o;
	struct cap_result r;
	int fd;

	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	data++;
	size--;
	fd = memfd_create("fuzz_capture_src", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || !mkdtemp(dir)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(in, sizeof(in), "/proc/self/fd/%d", fd);
	snprintf(out, sizeof(out), "%s/out", dir);
	cap_options_init(&o);
	o.input = in;
	o.output = out;
	o.format = opt & 1 ? CAP_FMT_ELF : CAP_FMT_KDUMP;
	o.flattened = opt & 2;
	o.dump_level = levels[opt >> 2 & 3];
	o.codec = codecs[opt >> 4 & 3];
	/* a write failure somewhere in the first pages */
	o.fail_after_bytes = opt & 0x40 ? 4096u * (1u + (opt >> 7) * 3u) + (size & 0xfff) : 0;
	o.progress = 0;
	o.message_level = 0;
	o.dmesg_path = "/dev/null";
	o.mem_budget = 4u << 20;

	enum cap_status st = cap_run(&o, &r);
	if (st == CAP_OK || st == CAP_INCOMPLETE) {
		if (access(out, F_OK) != 0)
			die("capture succeeded but left no output", 0, r.error);
		compare(data, size, out, st);
	} else if (r.no_output && access(out, F_OK) == 0) {
		die("a failed capture said its output was removed, but it is there", 0, r.error);
	}
	cap_result_free(&r);
	unlink(out);
	rmdir(dir);
	close(fd);
	return 0;
}
