/* xen-core.c - Xen guest cores written by the toolstack (`xl dump-core`,
 * on_crash="coredump-destroy|coredump-restart"): docs/formats.md §4.9.
 *
 * The file is ELF with section headers only: `.note.Xen` (dump-core header,
 * Xen version and format version notes), `.xen_prstatus` (one
 * vcpu_guest_context per vCPU), `.xen_shared_info`, `.xen_pages` (the page
 * data) and `.xen_p2m` ((pfn, gmfn) pairs, PV) or `.xen_pfn` (pfns, HVM),
 * whose entry i describes page i of `.xen_pages`.
 *
 * The dump is presented by the guest's pseudo-physical frame: runs of
 * consecutive pfns stored one after the other become ELF loads over the file
 * itself, so elf.c reads the pages.  The notes a Linux reader expects are
 * made here: the guest's VMCOREINFO (found in its memory, as Linux keeps
 * its vmcoreinfo note and data page there) and one CORE/NT_PRSTATUS per
 * saved vCPU.  A PV guest's page tables hold machine frames: vtop walks them
 * in machine frames and comes back to pfns through the table
 * (vmc_xcore_pt_walk); the pages themselves are never rewritten, so a
 * writer copies them as the guest had them.
 */
#include "internal.h"

#include <stdlib.h>

#include "xen-core.h"

struct section {
	const char *name;
	uint64_t off, size, entsize;
	bool found;
};

enum { S_NOTE, S_PRSTATUS, S_SHINFO, S_PAGES, S_P2M, S_PFN, S_COUNT };
static const char *const sec_names[S_COUNT] = {
	".note.Xen", ".xen_prstatus", ".xen_shared_info", ".xen_pages", ".xen_p2m", ".xen_pfn",
};

bool vmc_xcore_probe(const uint8_t *eh, size_t len)
{
	return len >= 64 && le_get16(eh + 16) == ET_CORE && le_get16(eh + 56) == 0 &&
	       le_get64(eh + 40) != 0 && le_get16(eh + 60) != 0;
}

void vmc_xcore_free(vmc_dump *d)
{
	struct vmc_xcore *x = d->xcore;

	if (!x)
		return;
	free(x->vcpus);
	free(x->by_pfn);
	free(x->by_mfn);
	free(x->runs_pfn);
	free(x->runs_mfn);
	free(x->tree);
	free(x->file_ranges);
	free(x->vmci);
	free(x);
	d->xcore = NULL;
}

const struct vmc_xen_core *vmc_xen_core(const vmc_dump *d)
{
	return d->xcore && !d->xcore->from_note ? &d->xcore->pub : NULL;
}

static const struct xent *find_pfn(const struct vmc_xcore *x, uint64_t pfn)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->by_pfn[mid].pfn == pfn)
			return &x->by_pfn[mid];
		if (x->by_pfn[mid].pfn < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct xent *find_mfn(const struct vmc_xcore *x, uint64_t mfn)
{
	size_t lo = 0, hi = x->nm;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->by_mfn[mid].gmfn == mfn)
			return &x->by_mfn[mid];
		if (x->by_mfn[mid].gmfn < mfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}


int vmc_xen_core_pfn_to_mfn(const vmc_dump *d, uint64_t pfn, uint64_t *mfn)
{
	const struct xent *e;

	if (d->xcore && d->xcore->runs_pfn) {
		const struct xrun *r = vmc_xcore_find_run(d->xcore->runs_pfn, d->xcore->nruns, pfn, false);
		if (!r)
			return VMC_NOPAGE;
		*mfn = r->mfn + (pfn - r->pfn);
		return VMC_OK;
	}

	if (!d->xcore || d->xcore->pub.hvm || !(e = find_pfn(d->xcore, pfn)) ||
	    e->gmfn == INVALID_ENTRY)
		return VMC_NOPAGE;
	*mfn = e->gmfn;
	return VMC_OK;
}

int vmc_xen_core_mfn_to_pfn(const vmc_dump *d, uint64_t mfn, uint64_t *pfn)
{
	const struct xent *e;

	if (d->xcore && d->xcore->runs_mfn) {
		const struct xrun *r = vmc_xcore_find_run(d->xcore->runs_mfn, d->xcore->nruns, mfn, true);
		if (!r)
			return VMC_NOPAGE;
		*pfn = r->pfn + (mfn - r->mfn);
		return VMC_OK;
	}

	if (!d->xcore || d->xcore->pub.hvm || !(e = find_mfn(d->xcore, mfn)))
		return VMC_NOPAGE;
	*pfn = e->pfn;
	return VMC_OK;
}

/* ---- the page-table walk ------------------------------------------------------ */

/* Machine memory of a PV guest: its own frames only, through the table. */
static int read_machine(void *arg, uint64_t ma, void *buf, size_t len)
{
	vmc_dump *d = arg;
	uint64_t pfn;

	if (vmc_xen_core_mfn_to_pfn(d, ma / PAGE, &pfn) != VMC_OK || ma % PAGE + len > PAGE)
		return VMC_NOPAGE;
	return vmc_read_phys(d, pfn * PAGE + ma % PAGE, buf, len);
}

static int read_phys(void *arg, uint64_t pa, void *buf, size_t len)
{
	return vmc_read_phys(arg, pa, buf, len);
}

int vmc_xcore_pt_walk(vmc_dump *d, uint64_t root, int levels, uint64_t clear, uint64_t va,
		      uint64_t *pa, struct xnote_pt_stop *st)
{
	uint64_t root_mfn, ma, pfn;
	int rc;

	if (d->xcore->pub.hvm)
		return xnote_pt_walk(read_phys, d, root, levels, clear, va, pa, st);
	if (vmc_xen_core_pfn_to_mfn(d, root / PAGE, &root_mfn) != VMC_OK) {
		st->level = levels;
		st->table = root;
		st->unmapped = false;
		return VMC_NOPAGE;
	}
	rc = xnote_pt_walk(read_machine, d, root_mfn * PAGE + root % PAGE, levels, clear, va, &ma, st);
	if (rc != VMC_OK) {
		/* name the table by the guest's frame when it has one */
		if (vmc_xen_core_mfn_to_pfn(d, st->table / PAGE, &pfn) == VMC_OK)
			st->table = pfn * PAGE + st->table % PAGE;
		return rc;
	}
	if (vmc_xen_core_mfn_to_pfn(d, ma / PAGE, &pfn) != VMC_OK) {
		/* a grant or foreign mapping, or Xen's: not the guest's memory */
		st->unmapped = true;
		st->level = 1;
		st->table = ma;
		return VMC_NOPAGE;
	}
	*pa = pfn * PAGE + ma % PAGE;
	return VMC_OK;
}

/* ---- sections and notes ----------------------------------------------------------- */

static int read_sections(vmc_dump *d, struct section *s)
{
	uint8_t eh[64], *sh = NULL;
	char *strtab = NULL;
	uint64_t fsize = d->io->size, shoff, end, stroff, strsize;
	uint16_t shnum, shstrndx;
	int rc;

	rc = vmc_io_read_exact(d, eh, sizeof(eh), 0, "ELF header");
	if (rc < 0)
		return rc;
	if (eh[4] != ELFCLASS64 || eh[5] != ELFDATA2LSB)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "Xen dump-core: only 64-bit little-endian files are supported (class %u, data %u)",
				   eh[4], eh[5]);
	if (le_get16(eh + 18) != EM_X86_64)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "Xen dump-core of machine %u: only x86_64 guests are supported",
				   le_get16(eh + 18));
	shoff = le_get64(eh + 40);
	shnum = le_get16(eh + 60);
	shstrndx = le_get16(eh + 62);
	if (le_get16(eh + 58) != SHDR_SIZE)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: section header size %u, expected %u",
				   le_get16(eh + 58), SHDR_SIZE);
	if (shnum > MAX_SECTIONS)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: %u sections (at most %u)",
				   shnum, MAX_SECTIONS);
	if (!vmc_add_ok(shoff, (uint64_t)shnum * SHDR_SIZE, &end) || end > fsize)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: %u section headers at 0x%llx beyond end of file (0x%llx)",
				   shnum, (unsigned long long)shoff, (unsigned long long)fsize);
	if (shstrndx >= shnum)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: section name table index %u, but %u sections",
				   shstrndx, shnum);
	sh = malloc((size_t)shnum * SHDR_SIZE);
	if (!sh)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = vmc_io_read_exact(d, sh, (size_t)shnum * SHDR_SIZE, shoff, "Xen dump-core section headers");
	if (rc < 0)
		goto out;
	stroff = le_get64(sh + shstrndx * SHDR_SIZE + 24);
	strsize = le_get64(sh + shstrndx * SHDR_SIZE + 32);
	if (strsize == 0 || strsize > MAX_STRTAB || !vmc_add_ok(stroff, strsize, &end) || end > fsize) {
		rc = vmc_set_err(d, VMC_ERR_CORRUPT,
				 "Xen dump-core: section name table (0x%llx bytes at 0x%llx) beyond end of file (0x%llx) or too large",
				 (unsigned long long)strsize, (unsigned long long)stroff,
				 (unsigned long long)fsize);
		goto out;
	}
	strtab = malloc((size_t)strsize + 1);
	if (!strtab) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = vmc_io_read_exact(d, strtab, (size_t)strsize, stroff, "Xen dump-core section name table");
	if (rc < 0)
		goto out;
	strtab[strsize] = 0;
	for (unsigned i = 1; i < shnum; i++) {
		const uint8_t *p = sh + (size_t)i * SHDR_SIZE;
		uint32_t name = le_get32(p);
		if (name >= strsize)
			continue;
		for (int k = 0; k < S_COUNT; k++) {
			if (strcmp(strtab + name, sec_names[k]) != 0)
				continue;
			if (s[k].found) {
				vmc_warn(d, "Xen dump-core: a second %s section (header %u) ignored",
					 sec_names[k], i);
				break;
			}
			s[k].found = true;
			s[k].name = sec_names[k];
			s[k].off = le_get64(p + 24);
			s[k].size = le_get64(p + 32);
			s[k].entsize = le_get64(p + 56);
			if (!vmc_add_ok(s[k].off, s[k].size, &end) || end > (1ULL << 62)) {
				rc = vmc_set_err(d, VMC_ERR_CORRUPT,
						 "Xen dump-core: section %s: 0x%llx bytes at 0x%llx out of bounds",
						 sec_names[k], (unsigned long long)s[k].size,
						 (unsigned long long)s[k].off);
				goto out;
			}
		}
	}
	rc = VMC_OK;
out:
	free(sh);
	free(strtab);
	return rc;
}

/* Bytes of a section that the file holds; a section cut short by the end of
 * the file is reported once. */
static uint64_t section_avail(vmc_dump *d, const struct section *s)
{
	uint64_t fsize = d->io->size;

	if (s->off >= fsize) {
		if (s->size) {
			vmc_warn(d, "Xen dump-core: section %s (0x%llx bytes at 0x%llx) lies past the end of the file (0x%llx): truncated",
				 s->name, (unsigned long long)s->size, (unsigned long long)s->off,
				 (unsigned long long)fsize);
			d->incomplete = true;
		}
		return 0;
	}
	if (s->size > fsize - s->off) {
		vmc_warn(d, "Xen dump-core: section %s: 0x%llx of 0x%llx bytes in the file: truncated",
			 s->name, (unsigned long long)(fsize - s->off), (unsigned long long)s->size);
		d->incomplete = true;
		return fsize - s->off;
	}
	return s->size;
}

static void copy_str(char *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
	size_t n = 0;
	while (n + 1 < dstlen && n < srclen && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] > 0x7e)
			dst[i] = '?';
}

static int read_notes(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	uint64_t avail;
	uint8_t *b;
	size_t off = 0, len;
	bool header = false;
	int rc = VMC_OK;

	if (!s->found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no .note.Xen section");
	if (s->size > MAX_NOTE_SEC)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: .note.Xen of 0x%llx bytes (at most 0x%x)",
				   (unsigned long long)s->size, MAX_NOTE_SEC);
	avail = section_avail(d, s);
	if (avail < s->size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: .note.Xen (0x%llx bytes at 0x%llx) beyond end of file (0x%llx)",
				   (unsigned long long)s->size, (unsigned long long)s->off,
				   (unsigned long long)d->io->size);
	len = (size_t)avail;
	b = malloc(len ? len : 1);
	if (!b)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = vmc_io_read_exact(d, b, len, s->off, "Xen dump-core .note.Xen");
	if (rc < 0)
		goto out;
	x->pub.xen_major = x->pub.xen_minor = x->pub.format_version = ~0ULL;
	while (len - off >= 12) {
		uint32_t namesz = le_get32(b + off), descsz = le_get32(b + off + 4), type = le_get32(b + off + 8);
		uint64_t dstart = off + 12 + (((uint64_t)namesz + 3) & ~3ULL), next;
		if (!vmc_add_ok(dstart, ((uint64_t)descsz + 3) & ~3ULL, &next) || dstart > len ||
		    descsz > len - dstart) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "Xen dump-core: note at 0x%zx of .note.Xen (namesz %u, descsz %u) runs past the section (0x%zx bytes)",
					 off, namesz, descsz, len);
			goto out;
		}
		const uint8_t *desc = b + dstart;
		bool xen = namesz == 4 && memcmp(b + off + 12, "Xen", 4) == 0;
		if (!xen) {
			vmc_warn(d, "Xen dump-core: note of type 0x%x at 0x%zx not named \"Xen\": ignored", type, off);
		} else if (type == NT_XEN_DUMPCORE_HEADER) {
			if (descsz < 32) {
				rc = vmc_set_err(d, VMC_ERR_CORRUPT,
						 "Xen dump-core: header note of %u bytes (32 expected)", descsz);
				goto out;
			}
			header = true;
			x->pub.magic = le_get64(desc);
			x->pub.header_vcpus = le_get64(desc + 8);
			x->pub.header_pages = le_get64(desc + 16);
			x->pub.header_page_size = le_get64(desc + 24);
		} else if (type == NT_XEN_DUMPCORE_XEN_VERSION) {
			if (descsz >= 32) {
				x->pub.xen_major = le_get64(desc);
				x->pub.xen_minor = le_get64(desc + 8);
				copy_str(x->pub.xen_extra, sizeof(x->pub.xen_extra), desc + 16, 16);
			}
			/* major, minor, extraversion[16], compile_info (144 bytes),
			 * capabilities[1024] */
			if (descsz >= 176 + 1024)
				copy_str(x->pub.capabilities, sizeof(x->pub.capabilities), desc + 176, 1024);
			if (descsz < 32)
				vmc_warn(d, "Xen dump-core: Xen version note of %u bytes: ignored", descsz);
		} else if (type == NT_XEN_DUMPCORE_FORMAT_VERSION) {
			if (descsz >= 8)
				x->pub.format_version = le_get64(desc);
		} else if (type != NT_XEN_DUMPCORE_NONE) {
			vmc_warn(d, "Xen dump-core: unknown note type 0x%x ignored", type);
		}
		off = next > len ? len : (size_t)next;
	}
	if (!header) {
		rc = vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no dump-core header note in .note.Xen");
		goto out;
	}
	if (x->pub.magic != MAGIC_PV && x->pub.magic != MAGIC_HVM)
		vmc_warn(d, "Xen dump-core: header magic 0x%llx is neither PV (0xf00febed) nor HVM (0xf00febee)",
			 (unsigned long long)x->pub.magic);
	if (x->pub.header_page_size != PAGE) {
		rc = vmc_set_err(d, VMC_ERR_UNSUPPORTED, "Xen dump-core: page size %llu (only 4096 is supported)",
				 (unsigned long long)x->pub.header_page_size);
		goto out;
	}
	if (x->pub.format_version == ~0ULL)
		vmc_warn(d, "Xen dump-core: no format version note");
	else if (x->pub.format_version != 1)
		vmc_warn(d, "Xen dump-core: format version 0x%llx (1 expected); read as version 1",
			 (unsigned long long)x->pub.format_version);
out:
	free(b);
	return rc;
}

/* ---- the pfn table ------------------------------------------------------------------ */

static int cmp_pfn(const void *a, const void *b)
{
	const struct xent *x = a, *y = b;
	if (x->pfn != y->pfn)
		return x->pfn < y->pfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_mfn(const void *a, const void *b)
{
	const struct xent *x = a, *y = b;
	if (x->gmfn != y->gmfn)
		return x->gmfn < y->gmfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Entries whose page lies past the end of the file are kept (they read as
 * incomplete), but only this many more than the file has pages for: the
 * memory for the table stays in proportion to the file. */
#define MAX_MISSING_ENTRIES (1u << 20)

static int read_table(vmc_dump *d, struct vmc_xcore *x, const struct section *tab,
		      const struct section *pages, uint64_t npages)
{
	unsigned esz = x->pub.hvm ? 8 : 16;
	uint64_t avail = section_avail(d, tab), count, past = 0, big = 0, first_past = 0, first_big = 0;
	uint64_t fsize = d->io->size, limit, over = 0;
	uint8_t *buf;
	int rc = VMC_OK;

	if (tab->size % esz)
		vmc_warn(d, "Xen dump-core: %s is 0x%llx bytes, not a whole number of %u-byte entries",
			 tab->name, (unsigned long long)tab->size, esz);
	if (tab->entsize && tab->entsize != esz)
		vmc_warn(d, "Xen dump-core: %s entry size %llu (%u expected); read as %u",
			 tab->name, (unsigned long long)tab->entsize, esz, esz);
	/* a flattened stream's virtual file may claim more than it stores */
	count = (avail < d->io->stored ? avail : d->io->stored) / esz;
	x->pub.entries = count;
	if (x->pub.header_pages != tab->size / esz)
		vmc_warn(d, "Xen dump-core: header says %llu pages, %s has %llu entries",
			 (unsigned long long)x->pub.header_pages, tab->name,
			 (unsigned long long)(tab->size / esz));
	/* at most one entry per page of .xen_pages, and those past the end of
	 * the file bounded: the allocation follows the file's size */
	limit = (pages->off < fsize ? (fsize - pages->off) / PAGE + 1 : 0) + MAX_MISSING_ENTRIES;
	if (limit > npages)
		limit = npages;
	if (limit > count)
		limit = count;
	x->by_pfn = malloc((limit ? limit : 1) * sizeof(*x->by_pfn));
	buf = malloc((size_t)TABLE_CHUNK * esz);
	if (!x->by_pfn || !buf) {
		free(buf);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory for %llu table entries",
				   (unsigned long long)count);
	}
	for (uint64_t i = 0; i < count; i += TABLE_CHUNK) {
		size_t m = count - i < TABLE_CHUNK ? (size_t)(count - i) : TABLE_CHUNK;
		rc = vmc_io_read_exact(d, buf, m * esz, tab->off + i * esz, tab->name);
		if (rc < 0)
			goto out;
		for (size_t k = 0; k < m; k++) {
			uint64_t pfn = le_get64(buf + k * esz);
			uint64_t gmfn = x->pub.hvm ? pfn : le_get64(buf + k * esz + 8);
			if (pfn == INVALID_ENTRY) {
				x->pub.padding++;
				continue;
			}
			if (i + k >= npages) {
				if (!past++)
					first_past = i + k;
				continue;
			}
			if (pfn >= PFN_LIMIT) {
				if (!big++)
					first_big = i + k;
				continue;
			}
			if (x->n >= limit) {
				over++;
				continue;
			}
			x->by_pfn[x->n].pfn = pfn;
			x->by_pfn[x->n].gmfn = gmfn;
			x->by_pfn[x->n].idx = i + k;
			x->n++;
		}
	}
	if (past)
		vmc_warn(d, "Xen dump-core: %llu entries of %s (the first: entry %llu) point past the %llu pages of .xen_pages: ignored",
			 (unsigned long long)past, tab->name, (unsigned long long)first_past,
			 (unsigned long long)npages);
	if (big)
		vmc_warn(d, "Xen dump-core: %llu entries of %s (the first: entry %llu) name a pfn beyond 2^40: ignored",
			 (unsigned long long)big, tab->name, (unsigned long long)first_big);
	if (over)
		vmc_warn(d, "Xen dump-core: %llu entries of %s beyond what the file can hold pages for (its pages and 2^20 more): ignored",
			 (unsigned long long)over, tab->name);
	x->pub.dropped = past + big + over;
	qsort(x->by_pfn, x->n, sizeof(*x->by_pfn), cmp_pfn);
	{
		size_t u = 0;
		uint64_t dups = 0, first_dup = 0;
		for (size_t k = 0; k < x->n; k++) {
			if (u && x->by_pfn[u - 1].pfn == x->by_pfn[k].pfn) {
				if (!dups++)
					first_dup = x->by_pfn[k].pfn;
				continue;
			}
			x->by_pfn[u++] = x->by_pfn[k];
		}
		x->n = u;
		if (dups)
			vmc_warn(d, "Xen dump-core: %llu duplicate pfns in %s (the first: pfn 0x%llx): the first entry of each is used",
				 (unsigned long long)dups, tab->name, (unsigned long long)first_dup);
		x->pub.dropped += dups;
	}
	x->pub.pages = x->n;
	if (!x->pub.hvm) {
		size_t u = 0;
		uint64_t dups = 0, first_dup = 0;
		x->by_mfn = malloc((x->n ? x->n : 1) * sizeof(*x->by_mfn));
		if (!x->by_mfn) {
			rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
			goto out;
		}
		/* a machine frame from 2^40 on has no machine address (frame *
		 * 4096 can wrap): such a pfn is read by pfn only */
		uint64_t nmbig = 0, big_pfn = 0, big_mfn = 0;
		for (size_t k = 0; k < x->n; k++) {
			const struct xent *t = &x->by_pfn[k];
			if (t->gmfn == INVALID_ENTRY)
				continue;
			if (t->gmfn >= PFN_LIMIT) {
				if (!nmbig++)
					big_pfn = t->pfn, big_mfn = t->gmfn;
				continue;
			}
			x->by_mfn[u++] = *t;
		}
		x->pub.machineless = nmbig;
		if (nmbig)
			vmc_warn(d, "Xen dump-core: %llu entries of .xen_p2m give a machine frame beyond 2^40 (the first: pfn 0x%llx, mfn 0x%llx): those pages are read by pfn only, and a dump written by machine frame leaves them out",
				 (unsigned long long)nmbig, (unsigned long long)big_pfn,
				 (unsigned long long)big_mfn);
		qsort(x->by_mfn, u, sizeof(*x->by_mfn), cmp_mfn);
		x->nm = 0;
		for (size_t k = 0; k < u; k++) {
			if (x->nm && x->by_mfn[x->nm - 1].gmfn == x->by_mfn[k].gmfn) {
				if (!dups++)
					first_dup = x->by_mfn[k].gmfn;
				continue;
			}
			x->by_mfn[x->nm++] = x->by_mfn[k];
		}
		if (dups)
			vmc_warn(d, "Xen dump-core: %llu machine frames given to more than one pfn in .xen_p2m (the first: 0x%llx): page tables read through the lowest pfn",
				 (unsigned long long)dups, (unsigned long long)first_dup);
	}
out:
	free(buf);
	return rc;
}

/* Loads over the file, one per run of consecutive frames (pfns, or with
 * mfn the machine frames) whose pages are stored one after the other in
 * .xen_pages at pages_off; ents sorted by that frame.  Sets *cut when
 * the file ends inside a load.  Also the machine view (xen-pvdump.c). */
int vmc_xcore_fill_loads(vmc_dump *d, const struct xent *ents, size_t n, bool mfn,
			 uint64_t pages_off, bool *cut)
{
	struct vmc_elf *e = &d->elf;
	uint64_t fsize = d->io->size;
	size_t nl = 0;

	*cut = false;
	e->loads = calloc(n ? n : 1, sizeof(*e->loads));
	if (!e->loads)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < n; k++) {
		const struct xent *t = &ents[k];
		/* below PFN_LIMIT: read_table refuses larger pfns and leaves
		 * larger gmfns out of by_mfn, so frame * PAGE cannot wrap */
		uint64_t frame = mfn ? t->gmfn : t->pfn;
		struct vmc_elf_load *l = nl ? &e->loads[nl - 1] : NULL;
		if (l && l->paddr + l->memsz == frame * PAGE &&
		    l->offset + l->memsz == pages_off + t->idx * PAGE) {
			l->memsz += PAGE;
			continue;
		}
		l = &e->loads[nl++];
		l->paddr = frame * PAGE;
		l->offset = pages_off + t->idx * PAGE;   /* idx < pages: no overflow */
		l->memsz = PAGE;
	}
	e->nloads = nl;
	for (size_t i = 0; i < nl; i++) {
		struct vmc_elf_load *l = &e->loads[i];
		l->filesz_declared = l->memsz;
		if (l->offset >= fsize)
			l->filesz = 0;
		else
			l->filesz = fsize - l->offset < l->memsz ? fsize - l->offset : l->memsz;
		*cut |= l->filesz < l->memsz;
	}
	return VMC_OK;
}

static int build_loads(vmc_dump *d, struct vmc_xcore *x, const struct section *pages)
{
	struct vmc_elf *e = &d->elf;
	bool cut;
	int rc = vmc_xcore_fill_loads(d, x->by_pfn, x->n, false, pages->off, &cut);

	if (rc != VMC_OK)
		return rc;
	if (cut) {
		vmc_warn(d, "Xen dump-core: .xen_pages is cut short by the end of the file: truncated, the pages past it are missing");
		d->incomplete = true;
	}
	e->machine = EM_X86_64;
	return vmc_elf_build_index(d);
}

/* ---- vCPUs ------------------------------------------------------------------------------ */

static int read_vcpus(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	uint64_t avail, stride, n;
	uint8_t *c;

	if (!s->found) {
		vmc_warn(d, "Xen dump-core: no .xen_prstatus section: no vCPU registers");
		return VMC_OK;
	}
	stride = s->entsize ? s->entsize : CTX_SIZE;
	if (stride < CTX_SIZE || stride > 4 * CTX_SIZE) {
		vmc_warn(d, "Xen dump-core: .xen_prstatus entry size %llu is not an x86_64 vcpu_guest_context (%u): no vCPU registers",
			 (unsigned long long)stride, CTX_SIZE);
		return VMC_OK;
	}
	avail = section_avail(d, s);
	n = avail / stride;
	if (s->size % stride)
		vmc_warn(d, "Xen dump-core: .xen_prstatus is 0x%llx bytes, not a whole number of %llu-byte contexts",
			 (unsigned long long)s->size, (unsigned long long)stride);
	if (x->pub.header_vcpus != s->size / stride)
		vmc_warn(d, "Xen dump-core: header says %llu vCPUs, .xen_prstatus holds %llu contexts; %llu used",
			 (unsigned long long)x->pub.header_vcpus,
			 (unsigned long long)(s->size / stride), (unsigned long long)n);
	if (n > MAX_VCPUS) {
		vmc_warn(d, "Xen dump-core: %llu vCPU contexts; the first %u used",
			 (unsigned long long)n, MAX_VCPUS);
		n = MAX_VCPUS;
	}
	x->vcpus = calloc(n ? n : 1, sizeof(*x->vcpus));
	c = malloc(CTX_SIZE);
	if (!x->vcpus || !c) {
		free(c);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	for (uint64_t i = 0; i < n; i++) {
		struct vmc_xen_vcpu *v = &x->vcpus[i];
		int rc = vmc_io_read_exact(d, c, CTX_SIZE, s->off + i * stride, ".xen_prstatus");
		if (rc < 0) {
			free(c);
			return rc;
		}
		const uint8_t *r = c + CTX_REGS;
		v->flags = le_get64(c + 512);
		v->rip = le_get64(r + 128);
		v->cs = le_get16(r + 136);
		v->rflags = le_get64(r + 144);
		v->rsp = le_get64(r + 152);
		v->ss = le_get16(r + 160);
		v->cr0 = le_get64(c + CTX_CTRLREG);
		v->cr2 = le_get64(c + CTX_CTRLREG + 16);
		v->cr3 = le_get64(c + CTX_CTRLREG + 24);
		v->cr4 = le_get64(c + CTX_CTRLREG + 32);
		v->kernel_sp = le_get64(c + CTX_KERNEL_SP);
		v->fs_base = le_get64(c + CTX_FS_BASE);
		v->gs_base_kernel = le_get64(c + CTX_FS_BASE + 8);
		v->gs_base_user = le_get64(c + CTX_FS_BASE + 16);
		x->pub.nvcpus++;
	}
	free(c);
	x->pub.vcpus = x->vcpus;
	return VMC_OK;
}

/* NT_PRSTATUS (docs/formats.md §2.3) from a saved context: user_regs are
 * Linux's pt_regs order for the first 15 registers. */
static void prstatus(const struct vmc_xen_vcpu *v, const uint8_t *ctx_regs, uint8_t *out)
{
	uint8_t *r = out + 112;

	memset(out, 0, PRSTATUS_SIZE);
	bool none = !v->flags && !v->rip && !v->rsp;
	for (size_t i = 0; i < 200 && none; i++)
		none = !ctx_regs[i];
	if (none)
		return;     /* a vCPU that saved nothing: an empty CORE note */
	memcpy(r, ctx_regs, 15 * 8);                       /* r15 .. rdi */
	le_put64(r + 8 * VMC_REG_ORIG_RAX, ~0ULL);
	le_put64(r + 8 * VMC_REG_RIP, v->rip);
	/* a 64-bit PV kernel runs in ring 3 (its cs is FLAT_KERNEL_CS64,
	 * 0xe033): in kernel code (VGCF_in_kernel, or a kernel-half rip) the
	 * note says ring 0, as a native pt_regs would, or every unwinder
	 * (ours, crash's) stops at "user mode" */
	bool kernel = (v->flags & 4) || v->rip >= 0xffff800000000000ULL;
	le_put64(r + 8 * VMC_REG_CS, kernel && (v->cs & 3) ? v->cs & ~3ULL : v->cs);
	le_put64(r + 8 * VMC_REG_EFLAGS, v->rflags);
	le_put64(r + 8 * VMC_REG_RSP, v->rsp);
	le_put64(r + 8 * VMC_REG_SS, v->ss);
	le_put64(r + 8 * VMC_REG_FS_BASE, v->fs_base);
	/* the kernel's GS base while the vCPU runs kernel code (VGCF_in_kernel) */
	le_put64(r + 8 * VMC_REG_GS_BASE, kernel ? v->gs_base_kernel : v->gs_base_user);
	le_put64(r + 8 * VMC_REG_ES, le_get64(ctx_regs + 168));
	le_put64(r + 8 * VMC_REG_DS, le_get64(ctx_regs + 176));
	le_put64(r + 8 * VMC_REG_FS, le_get64(ctx_regs + 184));
	le_put64(r + 8 * VMC_REG_GS, le_get64(ctx_regs + 192));
}

/* ---- the guest's VMCOREINFO --------------------------------------------------------- */

static int keep_vmci(struct vmc_xcore *x, const char *t, size_t len, uint64_t pfn)
{
	x->vmci = malloc(len + 1);
	if (!x->vmci)
		return VMC_ERR_NOMEM;
	memcpy(x->vmci, t, len);
	x->vmci[len] = 0;
	x->vmci_len = len;
	x->pub.vmcoreinfo_from = "memory scan";
	x->pub.vmcoreinfo_pfn = pfn;
	return VMC_OK;
}

/* Linux keeps its vmcoreinfo note and data page in whole pages
 * (alloc_pages_exact, get_zeroed_page): only page starts are looked at. */
static int scan_vmcoreinfo(vmc_dump *d, struct vmc_xcore *x)
{
	uint8_t *buf = malloc((size_t)SCAN_BATCH * PAGE);
	int rc = VMC_OK;

	if (!buf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < d->elf.nloads && !x->vmci; i++) {
		const struct vmc_elf_load *l = &d->elf.loads[i];
		uint64_t first = l->paddr / PAGE, n = l->filesz / PAGE;
		for (uint64_t p = 0; p < n && !x->vmci; p += SCAN_BATCH) {
			size_t m = n - p < SCAN_BATCH ? (size_t)(n - p) : SCAN_BATCH, done = 0;
			if (vmc_read_pages(d, first + p, m, buf, &done) < 0)
				d->errmsg[0] = 0;
			for (size_t k = 0; k < done; k++) {
				const uint8_t *h = buf + k * PAGE;
				const char *t;
				size_t tl;
				if (memcmp(h, "OSRELEASE=", 10) != 0 &&
				    !(le_get32(h) == 11 && memcmp(h + 12, "VMCOREINFO", 10) == 0))
					continue;
				if (!xnote_dom0_vmcoreinfo_page(h, PAGE, &t, &tl))
					continue;
				if (keep_vmci(x, t, tl, first + p + k) < 0) {
					rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
					goto out;
				}
				break;
			}
		}
	}
out:
	free(buf);
	return rc;
}

/* The notes a Linux reader and the writers expect: VMCOREINFO, then one CORE
 * NT_PRSTATUS per vCPU. */

static int make_notes(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	size_t vlen = x->vmci ? 12 + 12 + ((x->vmci_len + 3) & ~(size_t)3) : 0;
	size_t clen = 12 + 8 + PRSTATUS_SIZE, len = vlen + x->pub.nvcpus * clen;
	size_t nruns = x->pub.hvm ? 0 : vmc_xcore_p2m_runs(x, NULL), plen = 0;

	/* a PV guest's page tables hold machine frames: the writers carry the
	 * table along (as runs) so that their output reads like this file */
	if (nruns > P2M_NOTE_MAX_RUNS) {
		vmc_warn(d, "Xen dump-core: the p2m has %zu runs (more than %u): dumps written from this one will not carry it",
			 nruns, P2M_NOTE_MAX_RUNS);
		nruns = 0;
	}
	if (nruns) {
		plen = 12 + 12 + nruns * 24;
		len += plen;
	}
	/* opened to be written by machine frame (docs/formats.md §4.9): the
	 * runs say so, and crash(8) gets the P2M tree through CRASH_INFO;
	 * without the runs no reader could come back to pfns */
	bool mach = (d->open_flags & VMC_OPEN_MACHINE_FRAMES) && nruns;
	size_t cilen = mach ? vmc_xcore_crash_info_note(x, NULL) : 0;
	if ((d->open_flags & VMC_OPEN_MACHINE_FRAMES) && !x->pub.hvm && !mach)
		vmc_warn(d, "Xen dump-core: the p2m cannot be carried: the dump is written by pfn, which crash(8) cannot read");
	else if (mach && !cilen)
		vmc_warn(d, "Xen dump-core: the guest publishes no p2m frame list list in its shared_info: crash(8) cannot read dumps written from this core");
	len += cilen;
	size_t start = 0, off = 0;
	uint64_t foff = 0;
	uint8_t *ctx = NULL;
	int rc;

	d->note_bytes = calloc(1, len ? len : 1);
	if (!d->note_bytes)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	if (x->vmci) {
		le_put32(d->note_bytes, 11);
		le_put32(d->note_bytes + 4, (uint32_t)x->vmci_len);
		memcpy(d->note_bytes + 12, "VMCOREINFO", 10);
		memcpy(d->note_bytes + 24, x->vmci, x->vmci_len);
		off = vlen;
	}
	if (x->pub.nvcpus) {
		ctx = malloc(CTX_SIZE);
		if (!ctx)
			return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < x->pub.nvcpus; i++) {
		uint8_t *n = d->note_bytes + off;
		uint64_t stride = s->entsize ? s->entsize : CTX_SIZE;
		rc = vmc_io_read_exact(d, ctx, CTX_SIZE, s->off + i * stride, ".xen_prstatus");
		if (rc < 0) {
			free(ctx);
			return rc;
		}
		le_put32(n, 5);
		le_put32(n + 4, PRSTATUS_SIZE);
		le_put32(n + 8, 1);
		memcpy(n + 12, "CORE", 5);
		prstatus(&x->vcpus[i], ctx + CTX_REGS, n + 20);
		off += clen;
	}
	free(ctx);
	if (plen) {
		uint8_t *n = d->note_bytes + off;
		le_put32(n, sizeof(P2M_NOTE));
		le_put32(n + 4, (uint32_t)(nruns * 24));
		le_put32(n + 8, mach ? P2M_NOTE_MACHINE : 0);
		memcpy(n + 12, P2M_NOTE, sizeof(P2M_NOTE));
		vmc_xcore_p2m_runs(x, n + 24);
		off += plen;
	}
	if (cilen) {
		vmc_xcore_crash_info_note(x, d->note_bytes + off);
		off += cilen;
	}
	x->machine_view = mach;   /* done at the end of vmc_xcore_open */
	d->note_len = len;
	if (!len)
		return VMC_OK;
	return vmc_notes_parse_areas(d, &start, &len, &foff, 1, 4);
}


/* ---- opening -------------------------------------------------------------------------- */

void vmc_xcore_find_page_offset(vmc_dump *d)
{
	static const uint64_t bases[] = {
		0xffff888000000000ULL,   /* 4-level, 4.20+ */
		0xffff880000000000ULL,   /* 4-level, before 4.20 */
		0xff11000000000000ULL,   /* 5-level */
	};
	struct vmc_layout lay;
	uint64_t pa;

	if (vmc_kernel_layout(d, &lay) != VMC_OK) {
		d->errmsg[0] = 0;
		return;
	}
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (vmc_vtop_walk(d, bases[i] + lay.pgt_root, &pa) == VMC_OK && pa == lay.pgt_root) {
			d->vtop.page_offset = bases[i];
			/* (a dump by machine frame has no direct-map loads) */
			for (size_t k = 0; k < d->elf.nloads && !d->xcore->machine_file; k++)
				d->elf.loads[k].vaddr = bases[i] + d->elf.loads[k].paddr;
			break;
		}
	}
	d->errmsg[0] = 0;
}

int vmc_xcore_open(vmc_dump *d)
{
	struct section s[S_COUNT] = { { 0 } };
	struct vmc_xcore *x;
	const struct section *tab;
	uint64_t npages;
	int rc;

	x = calloc(1, sizeof(*x));
	if (!x)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	d->xcore = x;
	rc = read_sections(d, s);
	if (rc < 0)
		return rc;
	if (!s[S_NOTE].found && !s[S_PAGES].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "ELF header: no program headers (an ELF core with sections but no Xen dump-core sections)");
	rc = read_notes(d, x, &s[S_NOTE]);
	if (rc < 0)
		return rc;
	if (!s[S_PAGES].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no .xen_pages section");
	if (s[S_P2M].found && s[S_PFN].found)
		vmc_warn(d, "Xen dump-core: both .xen_p2m and .xen_pfn; .xen_%s used (the header's guest type)",
			 x->pub.magic == MAGIC_HVM ? "pfn" : "p2m");
	if (!s[S_P2M].found && !s[S_PFN].found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: neither .xen_p2m nor .xen_pfn");
	x->pub.hvm = s[S_P2M].found && s[S_PFN].found ? x->pub.magic == MAGIC_HVM : s[S_PFN].found;
	if (x->pub.hvm != (x->pub.magic == MAGIC_HVM))
		vmc_warn(d, "Xen dump-core: header says %s, the file has %s: read as %s",
			 x->pub.magic == MAGIC_HVM ? "HVM" : "PV", x->pub.hvm ? ".xen_pfn" : ".xen_p2m",
			 x->pub.hvm ? "HVM" : "PV");
	tab = &s[x->pub.hvm ? S_PFN : S_P2M];
	x->pub.has_shared_info = s[S_SHINFO].found;
	if (s[S_PAGES].off % PAGE)
		vmc_warn(d, "Xen dump-core: .xen_pages at 0x%llx is not page aligned",
			 (unsigned long long)s[S_PAGES].off);
	if (s[S_PAGES].size % PAGE)
		vmc_warn(d, "Xen dump-core: .xen_pages is 0x%llx bytes, not whole pages",
			 (unsigned long long)s[S_PAGES].size);
	npages = s[S_PAGES].size / PAGE;
	x->pages_off = s[S_PAGES].off;
	d->format = VMC_FMT_XEN_CORE;
	d->machine = EM_X86_64;
	d->page_size = PAGE;
	d->page_size_known = true;
	rc = read_table(d, x, tab, &s[S_PAGES], npages);
	if (rc < 0)
		return rc;
	if (!x->n)
		vmc_warn(d, "Xen dump-core: no page of the guest is in the file");
	rc = build_loads(d, x, &s[S_PAGES]);
	if (rc < 0)
		return rc;
	rc = read_vcpus(d, x, &s[S_PRSTATUS]);
	if (rc < 0)
		return rc;
	d->pagebuf = malloc(PAGE);
	if (!d->pagebuf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = scan_vmcoreinfo(d, x);
	if (rc < 0)
		return rc;
	if (!x->pub.hvm && s[S_SHINFO].found && s[S_SHINFO].size >= SHINFO_FLL + 8) {
		uint8_t w[8];
		if (vmc_io_read_exact(d, w, 8, s[S_SHINFO].off + SHINFO_FLL, ".xen_shared_info") == VMC_OK &&
		    le_get64(w) != INVALID_ENTRY && le_get64(w) < PFN_LIMIT)
			x->fll = le_get64(w);
		d->errmsg[0] = 0;
	}
	rc = make_notes(d, x, &s[S_PRSTATUS]);
	if (rc < 0)
		return rc;
	rc = vmc_notes_finish(d);
	if (rc < 0)
		return rc;
	d->producer = "xen-toolstack";
	const char *ps = vmc_vmcoreinfo_get(d, "PAGESIZE");
	if (ps && strcmp(ps, "4096") != 0)
		vmc_warn(d, "the guest's VMCOREINFO says PAGESIZE=%s; Xen's pages are 4096 bytes", ps);
	/* Xen's control registers of each vCPU; a PV cr3 names a machine frame */
	for (size_t i = 0; i < d->ncpus && i < x->pub.nvcpus; i++) {
		struct vmc_xen_vcpu *v = &x->vcpus[i];
		struct vmc_cpu *c = &d->cpus[i];
		uint64_t pfn = (v->cr3 & PTE_ADDR) / PAGE;
		v->cr3_pfn_known = x->pub.hvm ? find_pfn(x, pfn) != NULL
					      : vmc_xen_core_mfn_to_pfn(d, pfn, &pfn) == VMC_OK;
		v->cr3_pfn = v->cr3_pfn_known ? pfn : 0;
		c->has_cr = true;
		c->cr0 = v->cr0;
		c->cr2 = v->cr2;
		c->cr3 = v->cr3_pfn_known ? (v->cr3 & ~PTE_ADDR) | v->cr3_pfn * PAGE : v->cr3;
		c->cr4 = v->cr4;
	}
	if (!x->vmci)
		vmc_warn(d, "the guest's VMCOREINFO was not found in its memory: dmesg, bt, ps and page classification need it");
	else
		vmc_xcore_find_page_offset(d);
	if (!x->pub.hvm) {
		rc = vmc_xcore_p2m_tree(d, x);
		if (rc < 0)
			return rc;
	}
	if (x->machine_view) {
		x->machine_view = false;
		rc = vmc_xcore_machine_view(d, x);
	}
	return rc;
}
