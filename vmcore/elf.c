/* elf.c - ELF64 vmcores: /proc/vmcore copies, makedumpfile -E, QEMU elf dumps.
 *
 * Loads are kept in program-header order; an index sorted by physical address
 * plus a running maximum of segment ends finds the loads touching a page in
 * O(log n + overlaps).  Where loads overlap (the kernel-text segment duplicates
 * RAM) the first in program-header order wins.
 */
#include "internal.h"

#include <stdlib.h>

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define SHDR_SIZE 64
#define ELF_INCOMPLETE 0x1   /* makedumpfile's e_flags bit for a cut-short dump */

void vmc_elf_free(struct vmc_elf *e)
{
	free(e->loads);
	free(e->cover_end);   /* by_paddr and scratch share its allocation */
	memset(e, 0, sizeof(*e));
}

struct paddr_idx {
	uint64_t paddr;
	size_t idx;
};

static int cmp_by_paddr(const void *a, const void *b)
{
	const struct paddr_idx *x = a, *y = b;
	if (x->paddr != y->paddr)
		return x->paddr < y->paddr ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int read_phnum(vmc_dump *d, const uint8_t *eh, uint64_t *phnum)
{
	uint64_t shoff = le_get64(eh + 40);
	uint16_t shentsize = le_get16(eh + 58);
	uint8_t sh[SHDR_SIZE];
	int rc;

	*phnum = le_get16(eh + 56);
	if (*phnum != PN_XNUM)
		return VMC_OK;
	/* extended numbering: the count is in section header 0's sh_info */
	if (shoff == 0 || shentsize < SHDR_SIZE)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: e_phnum is PN_XNUM but there is no section header 0");
	rc = vmc_io_read_exact(d, sh, sizeof(sh), shoff, "ELF section header 0");
	if (rc < 0)
		return rc;
	*phnum = le_get32(sh + 44);
	return VMC_OK;
}

static int collect_notes(vmc_dump *d, const uint8_t *ph, uint64_t phnum, uint64_t fsize)
{
	size_t n = 0, total = 0, *starts = NULL, *lens = NULL;
	uint64_t *offs = NULL, align = 4;
	int rc = VMC_OK;

	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *p = ph + i * PHDR_SIZE;
		if (le_get32(p) != PT_NOTE)
			continue;
		uint64_t off = le_get64(p + 8), sz = le_get64(p + 32), end;
		if (sz == 0) {
			vmc_warn(d, "empty PT_NOTE (program header %llu)", (unsigned long long)i);
			continue;
		}
		if (!vmc_add_ok(off, sz, &end) || end > fsize || sz > d->io->stored ||
		    total + sz > d->io->stored)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "PT_NOTE (program header %llu): 0x%llx bytes at 0x%llx beyond end of file (0x%llx)",
					   (unsigned long long)i, (unsigned long long)sz,
					   (unsigned long long)off, (unsigned long long)fsize);
		total += (size_t)sz;
		n++;
		if (le_get64(p + 48) == 8)
			align = 8;
	}
	if (!n)
		return VMC_OK;
	d->note_bytes = malloc(total ? total : 1);
	starts = calloc(n, sizeof(*starts));
	lens = calloc(n, sizeof(*lens));
	offs = calloc(n, sizeof(*offs));
	if (!d->note_bytes || !starts || !lens || !offs) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	n = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *p = ph + i * PHDR_SIZE;
		uint64_t off = le_get64(p + 8), sz = le_get64(p + 32);
		if (le_get32(p) != PT_NOTE || sz == 0)
			continue;
		rc = vmc_io_read_exact(d, d->note_bytes + d->note_len, (size_t)sz, off, "PT_NOTE");
		if (rc < 0)
			goto out;
		starts[n] = d->note_len;
		lens[n] = (size_t)sz;
		offs[n] = off;
		d->note_len += (size_t)sz;
		n++;
	}
	rc = vmc_notes_parse_areas(d, starts, lens, offs, n, align);
out:
	free(starts);
	free(lens);
	free(offs);
	return rc;
}

int vmc_elf_build_index(vmc_dump *d)
{
	struct vmc_elf *e = &d->elf;
	uint64_t ps = d->page_size, maxend = 0;
	struct vmc_range *avail;
	size_t na = 0, n = e->nloads ? e->nloads : 1;

	/* nloads is bounded by the program headers read, so this cannot overflow */
	e->cover_end = malloc(n * (sizeof(uint64_t) + 2 * sizeof(size_t)));
	if (e->cover_end) {
		e->by_paddr = (size_t *)(e->cover_end + n);
		e->scratch = e->by_paddr + n;
	}
	d->ranges = malloc(n * sizeof(*d->ranges));
	avail = malloc(n * sizeof(*avail));
	struct paddr_idx *pi = malloc(n * sizeof(*pi));
	if (!e->cover_end || !d->ranges || !avail || !pi) {
		free(avail);
		free(pi);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < e->nloads; i++) {
		pi[i].paddr = e->loads[i].paddr;
		pi[i].idx = i;
	}
	qsort(pi, e->nloads, sizeof(*pi), cmp_by_paddr);
	for (size_t i = 0; i < e->nloads; i++)
		e->by_paddr[i] = pi[i].idx;
	free(pi);
	for (size_t i = 0; i < e->nloads; i++) {
		const struct vmc_elf_load *l = &e->loads[e->by_paddr[i]];
		uint64_t end = l->paddr + l->memsz;  /* checked at parse */
		if (end > maxend)
			maxend = end;
		e->cover_end[i] = maxend;
	}
	d->nranges = 0;
	for (size_t i = 0; i < e->nloads; i++) {
		const struct vmc_elf_load *l = &e->loads[i];
		if (l->memsz) {
			/* page-granular, as frames are what the dump is indexed by */
			d->ranges[d->nranges].start = l->paddr / ps * ps;
			d->ranges[d->nranges].end = (l->paddr + l->memsz + ps - 1) / ps * ps;
			d->nranges++;
		}
		if (l->filesz) {
			avail[na].start = l->paddr / ps * ps;
			avail[na].end = (l->paddr + l->filesz + ps - 1) / ps * ps;
			na++;
		}
	}
	d->nranges = vmc_ranges_merge(d->ranges, d->nranges);
	na = vmc_ranges_merge(avail, na);
	d->max_pfn = (maxend + ps - 1) / ps;
	for (size_t i = 0; i < d->nranges; i++)
		d->pages_total += (d->ranges[i].end - d->ranges[i].start) / ps;
	for (size_t i = 0; i < na; i++)
		d->pages_present += (avail[i].end - avail[i].start) / ps;
	free(avail);
	return VMC_OK;
}

int vmc_elf_open(vmc_dump *d)
{
	uint8_t eh[EHDR_SIZE];
	uint8_t *ph = NULL;
	uint64_t phoff, phnum, phsize, fsize = d->io->size, end;
	struct vmc_elf *e = &d->elf;
	int rc;

	rc = vmc_io_read_exact(d, eh, sizeof(eh), 0, "ELF header");
	if (rc < 0)
		return rc;
	if (eh[4] != 2)
		return vmc_set_err(d, eh[4] == 1 ? VMC_ERR_UNSUPPORTED : VMC_ERR_CORRUPT,
				   "ELF header: class %u; only 64-bit vmcores are supported", eh[4]);
	if (eh[5] != 1)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "ELF header: data encoding %u; only little-endian vmcores are supported",
				   eh[5]);
	if (le_get16(eh + 16) != ET_CORE)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: type %u is not a core file", le_get16(eh + 16));
	if (le_get16(eh + 54) != PHDR_SIZE)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: program header size %u, expected %d",
				   le_get16(eh + 54), PHDR_SIZE);
	d->format = VMC_FMT_ELF;
	d->machine = e->machine = le_get16(eh + 18);
	e->e_flags = le_get32(eh + 48);
	if (e->e_flags & ELF_INCOMPLETE) {
		d->incomplete = true;
		vmc_warn(d, "ELF header marks the dump incomplete (it was cut short when written)");
	}
	phoff = le_get64(eh + 32);
	rc = read_phnum(d, eh, &phnum);
	if (rc < 0)
		return rc;
	if (phnum == 0)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "ELF header: no program headers");
	if (!vmc_mul_ok(phnum, PHDR_SIZE, &phsize) || !vmc_add_ok(phoff, phsize, &end) ||
	    end > fsize || phsize > d->io->stored)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: %llu program headers at 0x%llx beyond end of file (0x%llx)",
				   (unsigned long long)phnum, (unsigned long long)phoff,
				   (unsigned long long)fsize);
	ph = malloc((size_t)phsize);
	if (!ph)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory for %llu program headers",
				   (unsigned long long)phnum);
	rc = vmc_io_read_exact(d, ph, (size_t)phsize, phoff, "ELF program headers");
	if (rc < 0)
		goto out;
	rc = collect_notes(d, ph, phnum, fsize);
	if (rc < 0)
		goto out;
	rc = vmc_notes_finish(d);
	if (rc < 0)
		goto out;

	/* the page size is told by the dump or fixed by the machine, never
	 * guessed (docs/formats.md §2.5) */
	d->page_size = 4096;
	d->page_size_known = e->machine == EM_X86_64 || e->machine == EM_386 ||
			     e->machine == EM_RISCV;
	{
		const char *ps = vmc_vmcoreinfo_get(d, "PAGESIZE");
		if (!ps)
			ps = vmc_xen_vmcoreinfo_get(d, "PAGESIZE");
		if (ps) {
			unsigned long v = strtoul(ps, NULL, 10);
			if (v >= 1024 && v <= 65536 && !(v & (v - 1))) {
				d->page_size = (uint32_t)v;
				d->page_size_known = true;
			} else {
				vmc_warn(d, "VMCOREINFO PAGESIZE=%s is not usable", ps);
			}
		}
		if (!d->page_size_known)
			vmc_warn(d, "page size unknown (no usable PAGESIZE in VMCOREINFO); "
				 "pages addressed in units of 4096 bytes");
	}

	for (uint64_t i = 0; i < phnum; i++)
		e->nloads += le_get32(ph + i * PHDR_SIZE) == PT_LOAD;
	e->loads = calloc(e->nloads ? e->nloads : 1, sizeof(*e->loads));
	if (!e->loads) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	e->nloads = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *p = ph + i * PHDR_SIZE;
		struct vmc_elf_load *l;
		uint64_t lend;

		if (le_get32(p) != PT_LOAD)
			continue;
		l = &e->loads[e->nloads];
		l->offset = le_get64(p + 8);
		l->vaddr = le_get64(p + 16);
		l->paddr = le_get64(p + 24);
		l->filesz = le_get64(p + 32);
		l->memsz = le_get64(p + 40);
		l->filesz_declared = l->filesz;
		if (l->filesz > l->memsz) {
			vmc_warn(d, "PT_LOAD %zu: p_filesz 0x%llx larger than p_memsz 0x%llx; using p_filesz",
				 e->nloads, (unsigned long long)l->filesz,
				 (unsigned long long)l->memsz);
			l->memsz = l->filesz;
		}
		if (!vmc_add_ok(l->paddr, l->memsz, &lend) || lend > (1ULL << 60)) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "PT_LOAD %zu: physical range 0x%llx+0x%llx out of bounds",
					 e->nloads, (unsigned long long)l->paddr,
					 (unsigned long long)l->memsz);
			goto out;
		}
		if (!vmc_add_ok(l->offset, l->filesz, &lend) || lend > fsize) {
			uint64_t avail = l->offset < fsize ? fsize - l->offset : 0;
			vmc_warn(d, "PT_LOAD %zu: data 0x%llx+0x%llx past end of file (0x%llx); dump truncated",
				 e->nloads, (unsigned long long)l->offset,
				 (unsigned long long)l->filesz, (unsigned long long)fsize);
			d->incomplete = true;
			l->filesz_declared = l->filesz;
			l->filesz = avail < l->filesz ? avail : l->filesz;
		}
		e->nloads++;
	}
	rc = vmc_elf_build_index(d);
out:
	free(ph);
	return rc;
}

/* Loads touching [start, end), any number of them (a page may be mapped by
 * every segment): touch_first gives the walk's start, touch_next the next
 * touching load's index, false when there is none left. */
static size_t touch_first(const vmc_dump *d, uint64_t end)
{
	const struct vmc_elf *e = &d->elf;
	size_t lo = 0, hi = e->nloads;

	/* first index in by_paddr whose paddr >= end */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->loads[e->by_paddr[mid]].paddr < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool touch_next(const vmc_dump *d, uint64_t start, size_t *pos, size_t *idx)
{
	const struct vmc_elf *e = &d->elf;

	while (*pos > 0 && e->cover_end[*pos - 1] > start) {
		size_t i = e->by_paddr[--*pos];
		if (e->loads[i].paddr + e->loads[i].memsz > start) {
			*idx = i;
			return true;
		}
	}
	return false;
}

/* Loads touching [start, end) into the dump's scratch array (one slot per
 * load, so it never overflows), count returned. */
static size_t touching(vmc_dump *d, uint64_t start, uint64_t end)
{
	size_t pos = touch_first(d, end), n = 0, idx;

	while (touch_next(d, start, &pos, &idx))
		d->elf.scratch[n++] = idx;
	return n;
}

/* Whether exactly one load touches [start, end) (its index in *idx). */
static bool touching_one(const vmc_dump *d, uint64_t start, uint64_t end, size_t *idx)
{
	size_t pos = touch_first(d, end), other;

	return touch_next(d, start, &pos, idx) && !touch_next(d, start, &pos, &other);
}

int vmc_elf_page_state(const vmc_dump *d, uint64_t pfn)
{
	uint64_t ps = d->page_size, start = pfn * ps, end = start + ps;
	size_t pos = touch_first(d, end), i;
	int state = VMC_PAGE_HOLE;

	while (touch_next(d, start, &pos, &i)) {
		const struct vmc_elf_load *l = &d->elf.loads[i];
		if (l->paddr < end && l->paddr + l->filesz > start)
			return VMC_PAGE_PRESENT;
		if (l->paddr < end && l->paddr + l->filesz_declared > start)
			state = VMC_PAGE_INCOMPLETE;
		else if (state == VMC_PAGE_HOLE)
			state = VMC_PAGE_EXCLUDED;
	}
	return state;
}

static int cmp_desc_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x > y ? -1 : x < y;
}

int vmc_elf_read_page(vmc_dump *d, uint64_t pfn, void *buf)
{
	uint64_t ps = d->page_size, start = pfn * ps, end = start + ps;
	size_t *idx = d->elf.scratch, n = touching(d, start, end);
	uint8_t *out = buf;
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[idx[i]];
		if (l->paddr < end && l->paddr + l->filesz > start)
			any = true;
	}
	if (!any)
		return VMC_NOPAGE;
	if (n == 1) {
		/* the usual case: one segment holds the whole page */
		const struct vmc_elf_load *l = &d->elf.loads[idx[0]];
		if (l->paddr <= start && l->paddr + l->filesz >= end) {
			int rc = vmc_io_read_exact(d, out, (size_t)ps, l->offset + (start - l->paddr),
						   "PT_LOAD data");
			return rc < 0 ? vmc_prefix_err(d, rc, "page 0x%llx", (unsigned long long)pfn) : VMC_OK;
		}
	}
	memset(out, 0, ps);
	/* apply later program headers first so the first one wins */
	qsort(idx, n, sizeof(idx[0]), cmp_desc_size);
	for (size_t i = 0; i < n; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[idx[i]];
		uint64_t a = l->paddr > start ? l->paddr : start;
		uint64_t b = l->paddr + l->filesz < end ? l->paddr + l->filesz : end;
		if (a >= b)
			continue;
		int rc = vmc_io_read_exact(d, out + (a - start), (size_t)(b - a),
					   l->offset + (a - l->paddr), "PT_LOAD data");
		if (rc < 0)
			return vmc_prefix_err(d, rc, "page 0x%llx", (unsigned long long)pfn);
	}
	return VMC_OK;
}

size_t vmc_elf_load_count(const vmc_dump *d)
{
	return d->format == VMC_FMT_ELF || d->format == VMC_FMT_XEN_CORE ? d->elf.nloads : 0;
}

int vmc_elf_load(const vmc_dump *d, size_t i, uint64_t *paddr, uint64_t *vaddr,
		 uint64_t *memsz)
{
	if ((d->format != VMC_FMT_ELF && d->format != VMC_FMT_XEN_CORE) || i >= d->elf.nloads)
		return VMC_ERR_ARG;
	*paddr = d->elf.loads[i].paddr;
	*vaddr = d->elf.loads[i].vaddr;
	*memsz = d->elf.loads[i].memsz;
	return VMC_OK;
}

/* Pages [pfn, pfn+n) that lie in one segment's file data, as one read;
 * returns how many pages that covers (0: not a simple case). */
size_t vmc_elf_read_run(vmc_dump *d, uint64_t pfn, size_t n, void *buf)
{
	uint64_t ps = d->page_size, start = pfn * ps;
	size_t idx;

	if (!touching_one(d, start, start + ps, &idx))
		return 0;
	const struct vmc_elf_load *l = &d->elf.loads[idx];
	if (l->paddr > start || l->paddr + l->filesz < start + ps)
		return 0;
	uint64_t avail = (l->paddr + l->filesz - start) / ps;
	size_t m = avail < n ? (size_t)avail : n;
	/* a second segment overlapping the run would take precedence: stop there */
	for (size_t i = 1; i < m; i++) {
		size_t j;
		if (!touching_one(d, start + i * ps, start + (i + 1) * ps, &j)) {
			m = i;
			break;
		}
	}
	if (vmc_io_read_exact(d, buf, (size_t)(m * ps), l->offset + (start - l->paddr),
			      "PT_LOAD data") < 0)
		return 0;
	return m;
}

/* First frame after pfn where any segment's coverage of frames may change:
 * every segment edge gives the frame holding it and the one after (a frame
 * holding an edge is partly covered, so it stands alone). */
uint64_t vmc_elf_next_edge(const vmc_dump *d, uint64_t pfn)
{
	uint64_t ps = d->page_size, best = UINT64_MAX;

	for (size_t i = 0; i < d->elf.nloads; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[i];
		const uint64_t edges[4] = { l->paddr, l->paddr + l->filesz,
					    l->paddr + l->filesz_declared, l->paddr + l->memsz };
		for (int k = 0; k < 4; k++) {
			uint64_t f = edges[k] / ps;
			if (f > pfn && f < best)
				best = f;
			if (f + 1 > pfn && f + 1 < best && edges[k] % ps)
				best = f + 1;
		}
	}
	return best;
}
