/* dom0.c - dom0 seen from a Xen dump: its page tables and its VMCOREINFO.
 *
 * A PV dom0's page-table entries hold machine frames (Xen validates them),
 * so a walk from the machine address of the top-level table needs no P2M.
 */
#include "internal.h"

#include <string.h>

#define PTE_PRESENT 0x1ULL
#define PTE_PSE 0x80ULL
#define PTE_ADDR 0x000ffffffffff000ULL
#define NOTE_HDR 24            /* namesz, descsz, type, "VMCOREINFO\0" + pad */

int xnote_pt_walk(xnote_read_fn read, void *arg, uint64_t root, int levels, uint64_t clear,
		  uint64_t va, uint64_t *ma, struct xnote_pt_stop *stop)
{
	struct xnote_pt_stop local;
	uint8_t b[8];
	uint64_t table = root & PTE_ADDR, e;
	int shift = levels == 5 ? 48 : 39;

	if (!stop)
		stop = &local;
	stop->level = levels;
	stop->table = table;
	stop->unmapped = false;
	if (levels != 4 && levels != 5)
		return XNOTE_ERR_ARG;
	for (int level = levels; level >= 1; level--, shift -= 9) {
		stop->level = level;
		stop->table = table;
		int rc = read(arg, table + 8 * ((va >> shift) & 511), b, 8);
		if (rc != XNOTE_OK)
			return rc;
		e = le_get64(b) & ~clear;
		if (!(e & PTE_PRESENT)) {
			stop->unmapped = true;
			return XNOTE_NOPAGE;
		}
		if ((level == 2 || level == 3) && (e & PTE_PSE)) {
			uint64_t size = 1ULL << shift;
			*ma = (e & PTE_ADDR & ~(size - 1)) | (va & (size - 1));
			return XNOTE_OK;
		}
		table = e & PTE_ADDR;
	}
	*ma = table | (va & 0xfff);
	return XNOTE_OK;
}

int xnote_read_virt(xnote_xlate_fn xlate, xnote_read_fn read, void *arg, uint64_t va,
		    void *buf, size_t len, struct xnote_virt_fail *fail)
{
	uint8_t *out = buf;

	while (len) {
		size_t chunk = 4096 - (size_t)(va & 4095);
		uint64_t a = 0;
		int rc = xlate(arg, va, &a);
		bool in_read = rc == XNOTE_OK;

		if (chunk > len)
			chunk = len;
		if (in_read)
			rc = read(arg, a, out, chunk);
		if (rc != XNOTE_OK) {
			if (fail)
				*fail = (struct xnote_virt_fail){ va, a, in_read };
			return rc;
		}
		out += chunk;
		va += chunk;
		len -= chunk;
	}
	return XNOTE_OK;
}

static bool starts_text(const uint8_t *p, size_t len)
{
	return len > 10 && memcmp(p, "OSRELEASE=", 10) == 0;
}

bool xnote_dom0_vmcoreinfo_page(const uint8_t *page, size_t len, const char **text,
				size_t *textlen)
{
	const uint8_t *t;
	size_t tl;

	if (len >= NOTE_HDR + 10 && le_get32(page) == 11 && le_get32(page + 8) == 0 &&
	    memcmp(page + 12, "VMCOREINFO\0", 11) == 0 && starts_text(page + NOTE_HDR, len - NOTE_HDR)) {
		/* Linux's vmcoreinfo_note: its descsz is the text's length */
		t = page + NOTE_HDR;
		tl = (size_t)le_get32(page + 4);
		if (tl > len - NOTE_HDR)
			tl = len - NOTE_HDR;
	} else if (starts_text(page, len)) {
		t = page;          /* vmcoreinfo_data: the text alone */
		tl = len;
	} else {
		return false;
	}
	const uint8_t *z = memchr(t, 0, tl);
	if (z)
		tl = (size_t)(z - t);
	/* the text of a kernel is KEY=VALUE lines only */
	for (size_t i = 0; i < tl; i++)
		if ((t[i] < 0x20 || t[i] > 0x7e) && t[i] != '\n')
			return false;
	*text = (const char *)t;
	*textlen = tl;
	return true;
}
