/* p2mcheck.c - dom0's P2M tree (xen-notes/p2m.c) with pages of the tree
 * missing from the dump: what can be translated is, and every pfn that
 * cannot gives XNOTE_NOPAGE with a message naming the missing tree page
 * (docs/formats.md §4.7); the linear P2M of a domU (§4.12) likewise, read
 * through page tables in machine frames.  The machine memory is a table of frames built
 * here, read through the library's callback.
 *
 * Usage: p2mcheck   (prints one line per check, exits 1 on a failure)
 */
#include "../../xen-notes/xnote.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NFRAMES 64
#define PAGE 4096

static uint8_t mem[NFRAMES][PAGE];
static bool present[NFRAMES];
static int failures;

static int read_mem(void *arg, uint64_t maddr, void *buf, size_t len)
{
	(void)arg;
	uint64_t f = maddr / PAGE;

	if (f >= NFRAMES || maddr % PAGE + len > PAGE)
		return XNOTE_NOPAGE;
	if (!present[f])
		return XNOTE_NOPAGE;
	memcpy(buf, mem[f] + maddr % PAGE, len);
	return XNOTE_OK;
}

static void put(uint64_t frame, unsigned i, uint64_t v)
{
	for (int b = 0; b < 8; b++)
		mem[frame][8 * i + b] = (uint8_t)(v >> (8 * b));
	present[frame] = true;
}

static void check(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	failures += !ok;
}

/* Frames: 1 top; 2, 3 mid pages (pfns 0-256K, 256K-512K); 10, 11 leaves
 * under mid 2 (pfns 0-511, 512-1023); 12 a leaf under mid 3 (pfns
 * 0x40000-0x401ff); leaf pfn n maps to machine frame 0x1000 + n. */
static void build(void)
{
	memset(mem, 0, sizeof(mem));
	memset(present, 0, sizeof(present));
	for (unsigned i = 0; i < 512; i++)
		put(1, i, i == 0 ? 2 : i == 1 ? 3 : XNOTE_P2M_NONE);
	for (unsigned i = 0; i < 512; i++) {
		put(2, i, i == 0 ? 10 : i == 1 ? 11 : XNOTE_P2M_NONE);
		put(3, i, i == 0 ? 12 : XNOTE_P2M_NONE);
	}
	for (unsigned i = 0; i < 512; i++) {
		put(10, i, 0x1000 + i);
		put(11, i, 0x1000 + 512 + i);
		put(12, i, 0x1000 + 0x40000 + i);
	}
}

static void lookup_ok(struct xnote_p2m *p, uint64_t pfn, uint64_t want, const char *what)
{
	uint64_t mfn;
	enum xnote_p2m_kind k;
	int rc = xnote_p2m_lookup(p, pfn, &mfn, &k);
	check(rc == XNOTE_OK && k == XNOTE_P2M_VALID && mfn == want, what);
}

static void lookup_missing(struct xnote_p2m *p, uint64_t pfn, const char *frame, const char *what)
{
	uint64_t mfn;
	enum xnote_p2m_kind k;
	int rc = xnote_p2m_lookup(p, pfn, &mfn, &k);
	check(rc == XNOTE_NOPAGE && strstr(p->err, frame) != NULL, what);
	if (rc == XNOTE_NOPAGE)
		printf("      (%s)\n", p->err);
}

int main(void)
{
	struct xnote_p2m p;
	uint64_t end, mfns[16];
	size_t n;

	/* the whole tree: a reference */
	build();
	check(xnote_p2m_init(&p, read_mem, NULL, 1) == XNOTE_OK, "whole tree: init");
	check(xnote_p2m_find_end(&p, &end) == XNOTE_OK && end == 0x40200, "whole tree: end 0x40200");
	lookup_ok(&p, 5, 0x1005, "whole tree: pfn 5");

	/* mid page 3 missing: pfns under mid 2 translate, those under mid 3 fail
	 * naming machine frame 0x3, and the end is that mid page's range end */
	build();
	present[3] = false;
	check(xnote_p2m_init(&p, read_mem, NULL, 1) == XNOTE_OK, "mid missing: init");
	check(xnote_p2m_find_end(&p, &end) == XNOTE_OK && end == 2 * 512 * 512,
	      "mid missing: end is the missing mid page's range end");
	lookup_ok(&p, 5, 0x1005, "mid missing: pfn 5 translates");
	lookup_ok(&p, 700, 0x1000 + 700, "mid missing: pfn 700 translates");
	lookup_missing(&p, 0x40005, "machine frame 0x3 ", "mid missing: pfn 0x40005 names the mid page");
	check(xnote_p2m_tree_frames(&p, mfns, 16, &n) == XNOTE_OK && n == 5,
	      "mid missing: tree frames listed without it (top, 2 mids, 2 leaves)");

	/* leaf 11 missing: pfns 512-1023 fail naming frame 0xb, the rest translate */
	build();
	present[11] = false;
	check(xnote_p2m_init(&p, read_mem, NULL, 1) == XNOTE_OK, "leaf missing: init");
	check(xnote_p2m_find_end(&p, &end) == XNOTE_OK && end == 0x40200, "leaf missing: end 0x40200");
	lookup_ok(&p, 511, 0x1000 + 511, "leaf missing: pfn 511 translates");
	lookup_missing(&p, 600, "machine frame 0xb ", "leaf missing: pfn 600 names the leaf");
	lookup_ok(&p, 0x40001, 0x41001, "leaf missing: pfn 0x40001 translates");

	/* the last mid page's only leaf missing: the end is that leaf's range end */
	build();
	present[12] = false;
	check(xnote_p2m_init(&p, read_mem, NULL, 1) == XNOTE_OK, "last leaf missing: init");
	check(xnote_p2m_find_end(&p, &end) == XNOTE_OK && end == 0x40200,
	      "last leaf missing: end is the leaf's range end");
	lookup_missing(&p, 0x40000, "machine frame 0xc ", "last leaf missing: pfn 0x40000 names it");

	/* the top page missing: nothing to translate, said so */
	build();
	present[1] = false;
	check(xnote_p2m_init(&p, read_mem, NULL, 1) == XNOTE_NOPAGE && strstr(p.err, "top"),
	      "top missing: refused, naming the top page");

	/* the linear P2M (docs/formats.md §4.12): the leaves 10, 11 mapped at
	 * LIN by 4-level tables in frames 20 (the "cr3"), 21, 22, 23 holding
	 * machine frames as a PV guest's do */
	const uint64_t LIN = 0xffffc90000000000ULL;
	build();
	put(20, (LIN >> 39) & 511, 21 * PAGE | 0x67);
	put(21, (LIN >> 30) & 511, 22 * PAGE | 0x67);
	put(22, (LIN >> 21) & 511, 23 * PAGE | 0x67);
	put(23, 0, 10 * PAGE | 0x67);
	put(23, 1, 11 * PAGE | 0x67);
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN, 1024) == XNOTE_OK,
	      "linear: init");
	check(xnote_p2m_find_end(&p, &end) == XNOTE_OK && end == 1024, "linear: end is max_pfn");
	lookup_ok(&p, 5, 0x1005, "linear: pfn 5");
	lookup_ok(&p, 1023, 0x1000 + 1023, "linear: pfn 1023 (second page)");
	{
		uint64_t mfn;
		enum xnote_p2m_kind k;
		check(xnote_p2m_lookup(&p, 1024, &mfn, &k) == XNOTE_OK && k == XNOTE_P2M_MISSING,
		      "linear: beyond max_pfn is missing");
	}
	check(xnote_p2m_tree_frames(&p, mfns, 16, &n) == XNOTE_OK && n == 0,
	      "linear: no tree frames to keep");
	/* its second page not in the dump; then its level-1 table */
	present[11] = false;
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN, 1024) == XNOTE_OK,
	      "linear, second page missing: init");
	lookup_ok(&p, 7, 0x1007, "linear, second page missing: pfn 7");
	lookup_missing(&p, 600, "machine frame 0xb ", "linear, second page missing: pfn 600 names it");
	present[23] = false;
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN, 1024) == XNOTE_NOPAGE &&
	      strstr(p.err, "level-1 table at machine 0x17000"),
	      "linear, level-1 table missing: refused, naming the table");
	printf("      (%s)\n", p.err);
	/* an address not mapped, a misaligned one, max_pfn out of range */
	build();
	put(20, 0, 0);
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN, 1024) != XNOTE_OK &&
	      strstr(p.err, "not mapped"), "linear: unmapped address refused");
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN + 8, 1024) == XNOTE_ERR_CORRUPT,
	      "linear: misaligned address refused");
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 20 * PAGE, LIN, XNOTE_P2M_MAX_PFN + 1) ==
	      XNOTE_ERR_CORRUPT, "linear: max_pfn out of range refused");
	check(xnote_p2m_init_linear(&p, read_mem, NULL, 0, LIN, 1024) == XNOTE_ERR_CORRUPT,
	      "linear: no cr3 refused");
	printf("p2mcheck: %d failed\n", failures);
	return failures ? 1 : 0;
}
