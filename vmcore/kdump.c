/* kdump.c - kdump-compressed files (makedumpfile, QEMU), header versions 1-6.
 *
 * Layout: docs/formats.md §1.  Both bitmaps are read at open; a table of set-bit
 * counts every 4096 frames of bitmap2 makes finding a page's descriptor O(1)
 * (one table look-up plus at most 64 word popcounts).
 */
#include "internal.h"
#include "kdump-format.h"

#include <stdlib.h>

#define KD_RANK_BITS 4096

/* the public codec bits are the header's and the descriptors' flags */
_Static_assert(VMC_COMP_ZLIB == KDUMP_DH_COMPRESSED_ZLIB && VMC_COMP_LZO == KDUMP_DH_COMPRESSED_LZO &&
	       VMC_COMP_SNAPPY == KDUMP_DH_COMPRESSED_SNAPPY &&
	       VMC_COMP_ZSTD == KDUMP_DH_COMPRESSED_ZSTD, "VMC_COMP_* are kdump codec flags");
/* Far beyond any real machine (2^44 frames = 64 PiB of 4 KiB pages); keeps
 * size arithmetic away from overflow. */
#define KD_MAX_MAPNR (1ULL << 44)

/* Where the fields of the header and sub header lie for the writer's C
 * layout (§1.2, §1.5, §1.12).  The x86_64 layout is every 64-bit
 * little-endian machine's. */
struct kd_layout {
	const char *name;
	uint16_t ts, ts_width, status, block_size, sub_hdr_size, bitmap_blocks,
		 max_mapnr, nr_cpus;
	uint16_t phys_width, dump_level, split, off_vmci, size_vmci, off_note,
		 size_note, ulong_width, mapnr64, sub_size;
};

static const struct kd_layout kd_layout64 = {
	"64-bit", KDUMP_HDR_TIMESTAMP, 8, KDUMP_HDR_STATUS, KDUMP_HDR_BLOCK_SIZE,
	KDUMP_HDR_SUB_HDR_SIZE, KDUMP_HDR_BITMAP_BLOCKS, KDUMP_HDR_MAX_MAPNR,
	KDUMP_HDR_NR_CPUS,
	8, KDUMP_SUB_DUMP_LEVEL, KDUMP_SUB_SPLIT, KDUMP_SUB_OFF_VMCOREINFO,
	KDUMP_SUB_SIZE_VMCOREINFO, KDUMP_SUB_OFF_NOTE, KDUMP_SUB_SIZE_NOTE, 8,
	KDUMP_SUB_MAX_MAPNR_64, KDUMP_SUB_SIZE,
};
static const struct kd_layout kd_layout_i386 = {
	"i386", KDUMP32_HDR_TIMESTAMP, 4, KDUMP32_HDR_STATUS, KDUMP32_HDR_BLOCK_SIZE,
	KDUMP32_HDR_SUB_HDR_SIZE, KDUMP32_HDR_BITMAP_BLOCKS, KDUMP32_HDR_MAX_MAPNR,
	KDUMP32_HDR_NR_CPUS,
	4, KDUMP_SUB32_DUMP_LEVEL, KDUMP_SUB32_SPLIT, KDUMP_SUB32I_OFF_VMCOREINFO,
	KDUMP_SUB32I_SIZE_VMCOREINFO, KDUMP_SUB32I_OFF_NOTE, KDUMP_SUB32I_SIZE_NOTE, 4,
	KDUMP_SUB32I_MAX_MAPNR_64, KDUMP_SUB32I_SIZE,
};
static const struct kd_layout kd_layout_arm = {
	"arm", KDUMP32_HDR_TIMESTAMP, 4, KDUMP32_HDR_STATUS, KDUMP32_HDR_BLOCK_SIZE,
	KDUMP32_HDR_SUB_HDR_SIZE, KDUMP32_HDR_BITMAP_BLOCKS, KDUMP32_HDR_MAX_MAPNR,
	KDUMP32_HDR_NR_CPUS,
	4, KDUMP_SUB32_DUMP_LEVEL, KDUMP_SUB32_SPLIT, KDUMP_SUB32A_OFF_VMCOREINFO,
	KDUMP_SUB32A_SIZE_VMCOREINFO, KDUMP_SUB32A_OFF_NOTE, KDUMP_SUB32A_SIZE_NOTE, 4,
	KDUMP_SUB32A_MAX_MAPNR_64, KDUMP_SUB32A_SIZE,
};

/* The machine the header's utsname names, and with it the layout; like
 * libkdumpfile and crash, the layout follows the machine.  Big-endian
 * machines are known by name so that they can be refused by name. */
static const struct {
	const char *uts;
	uint16_t em;
	const struct kd_layout *l;   /* NULL: big-endian, not read */
} kd_machines[] = {
	{ "x86_64", EM_X86_64, &kd_layout64 },
	{ "aarch64", EM_AARCH64, &kd_layout64 },
	{ "arm64", EM_AARCH64, &kd_layout64 },
	{ "riscv64", EM_RISCV, &kd_layout64 },
	{ "ppc64le", EM_PPC64, &kd_layout64 },
	{ "i386", EM_386, &kd_layout_i386 },
	{ "i486", EM_386, &kd_layout_i386 },
	{ "i586", EM_386, &kd_layout_i386 },
	{ "i686", EM_386, &kd_layout_i386 },
	{ "ppc64", EM_PPC64, NULL },
	{ "ppc", EM_PPC, NULL },
	{ "s390x", EM_S390, NULL },
	{ "s390", EM_S390, NULL },
	{ "sparc64", EM_SPARCV9, NULL },
	{ "mips", EM_MIPS, NULL },
	{ "mips64", EM_MIPS, NULL },
};

static const struct kd_layout *kd_machine(const char *uts, uint16_t *em, bool *known)
{
	*known = true;
	for (size_t i = 0; i < sizeof(kd_machines) / sizeof(kd_machines[0]); i++)
		if (strcmp(uts, kd_machines[i].uts) == 0) {
			*em = kd_machines[i].em;
			return kd_machines[i].l;
		}
	/* armv5tel, armv6l, armv7l...; "armeb"/"armv7b" are big-endian */
	if (strncmp(uts, "arm", 3) == 0 && strcmp(uts, "arm64") != 0) {
		size_t n = strlen(uts);
		*em = EM_ARM;
		return strstr(uts, "eb") || (n && uts[n - 1] == 'b') ? NULL : &kd_layout_arm;
	}
	*known = false;
	*em = 0;
	return &kd_layout64;
}

/* A header string fit for a message: bytes outside printable ASCII become '?'. */
static void printable(char *out, size_t len, const char *in)
{
	size_t i = 0;

	for (; in[i] && i + 1 < len; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = 0;
}

static uint64_t get_width(const uint8_t *p, unsigned width)
{
	return width == 8 ? le_get64(p) : le_get32(p);
}

void vmc_kdump_free(struct vmc_kdump *k)
{
	for (size_t i = 0; i < k->nparts; i++)
		vmc_dump_destroy(k->parts[i]);
	free(k->parts);
	free(k->bitmap1);   /* bitmap2 shares its allocation */
	free(k->rank);
	free(k->cbuf);
	memset(k, 0, sizeof(*k));
}

static bool bit(const uint8_t *bm, uint64_t pfn)
{
	return bm[pfn >> 3] >> (pfn & 7) & 1;
}

static int read_sub_header(vmc_dump *d, struct vmc_kdump *k, const struct kd_layout *l,
			   uint64_t *off_note, uint64_t *size_note, uint64_t *off_vmci,
			   uint64_t *size_vmci)
{
	uint8_t sub[KDUMP_SUB_SIZE];
	uint64_t need = l == &kd_layout64 ? KDUMP_SUB_SIZE_V(k->version) : l->sub_size;
	int rc;

	memset(sub, 0, sizeof(sub));
	if ((uint64_t)k->sub_hdr_size * k->block_size < need)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "kdump header: sub header of %u blocks too small for version %d",
				   k->sub_hdr_size, k->version);
	rc = vmc_io_read_exact(d, sub, (size_t)need, k->block_size, "kdump sub header");
	if (rc < 0)
		return rc;
	k->phys_base = get_width(sub + KDUMP_SUB_PHYS_BASE, l->phys_width);
	k->dump_level = (int)le_get32(sub + l->dump_level);
	if (k->version >= 2) {
		k->split = (int)le_get32(sub + l->split);
		k->start_pfn = get_width(sub + l->split + 4, l->ulong_width);
		k->end_pfn = get_width(sub + l->split + 4 + l->ulong_width, l->ulong_width);
	}
	if (k->version >= 3) {
		*off_vmci = le_get64(sub + l->off_vmci);
		*size_vmci = get_width(sub + l->size_vmci, l->ulong_width);
	}
	if (k->version >= 4) {
		*off_note = le_get64(sub + l->off_note);
		*size_note = get_width(sub + l->size_note, l->ulong_width);
	}
	if (k->version >= 6) {
		uint64_t m64 = le_get64(sub + l->mapnr64);
		if (m64)
			k->max_mapnr = m64;
		if (k->split) {
			k->start_pfn = le_get64(sub + l->mapnr64 - 16);
			k->end_pfn = le_get64(sub + l->mapnr64 - 8);
		}
	}
	return VMC_OK;
}

/* A region declared by the sub header must lie within the sub-header blocks
 * or at least within the file. */
static int check_region(vmc_dump *d, uint64_t off, uint64_t size, const char *what)
{
	uint64_t end;
	if (!vmc_add_ok(off, size, &end) || end > d->io->size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "kdump sub header: %s 0x%llx+0x%llx beyond end of file (0x%llx)",
				   what, (unsigned long long)off, (unsigned long long)size,
				   (unsigned long long)d->io->size);
	if (size > (64u << 20) || size > d->io->stored)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "kdump sub header: %s of %llu bytes",
				   what, (unsigned long long)size);
	return VMC_OK;
}

static int read_notes(vmc_dump *d, uint64_t off_note, uint64_t size_note,
		      uint64_t off_vmci, uint64_t size_vmci)
{
	struct vmc_kdump *k = &d->kd;
	int rc;

	if (k->version >= 4 && size_note) {
		rc = check_region(d, off_note, size_note, "note section");
		if (rc < 0)
			return rc;
		d->note_bytes = malloc((size_t)size_note);
		if (!d->note_bytes)
			return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		rc = vmc_io_read_exact(d, d->note_bytes, (size_t)size_note, off_note,
				       "kdump note section");
		if (rc < 0)
			return rc;
		d->note_len = (size_t)size_note;
		size_t start = 0, len = (size_t)size_note;
		rc = vmc_notes_parse_areas(d, &start, &len, &off_note, 1, 4);
		if (rc < 0)
			return rc;
		return vmc_notes_finish(d);
	}
	rc = vmc_notes_finish(d);
	if (rc < 0)
		return rc;
	if (k->version >= 3 && size_vmci) {
		/* version 3: VMCOREINFO text only, no notes */
		char *text;
		rc = check_region(d, off_vmci, size_vmci, "VMCOREINFO");
		if (rc < 0)
			return rc;
		text = malloc((size_t)size_vmci);
		if (!text)
			return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		rc = vmc_io_read_exact(d, text, (size_t)size_vmci, off_vmci, "kdump VMCOREINFO");
		if (rc >= 0)
			rc = vmc_kv_parse(d, &d->vmci, text, (size_t)size_vmci, "VMCOREINFO");
		free(text);
	}
	return rc;
}

static int read_bitmaps(vmc_dump *d)
{
	struct vmc_kdump *k = &d->kd;
	uint64_t bs = k->block_size, bm_bytes, half, bm_off, area, end;
	int rc;

	bm_bytes = (k->max_mapnr + 7) / 8;
	half = (uint64_t)(k->bitmap_blocks / 2) * bs;
	if (half >= bm_bytes) {
		/* two bitmaps: RAM, then dumpable */
	} else if ((uint64_t)k->bitmap_blocks * bs >= bm_bytes) {
		vmc_warn(d, "kdump header: one bitmap only (old diskdump); every mapped page taken as dumpable");
		half = 0;
	} else {
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "kdump header: %u bitmap blocks too few for %llu pages",
				   k->bitmap_blocks, (unsigned long long)k->max_mapnr);
	}
	bm_off = (1ULL + k->sub_hdr_size) * bs;
	area = (uint64_t)k->bitmap_blocks * bs;
	if (!vmc_add_ok(bm_off, area, &end) || end > d->io->size || area > d->io->stored)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "kdump bitmaps: 0x%llx bytes at 0x%llx beyond end of file (0x%llx)",
				   (unsigned long long)area, (unsigned long long)bm_off,
				   (unsigned long long)d->io->size);
	k->desc_off = end;
	k->bitmap_bytes = bm_bytes;
	/* round up to whole 64-bit words so popcounts can read words */
	size_t alloc = (size_t)((bm_bytes + 7) / 8 * 8);
	if (!alloc)
		alloc = 8;
	k->bitmap1 = calloc(2, alloc);
	if (!k->bitmap1)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory for %llu-byte bitmaps",
				   (unsigned long long)bm_bytes);
	k->bitmap2 = k->bitmap1 + alloc;
	rc = vmc_io_read_exact(d, k->bitmap1, (size_t)bm_bytes, bm_off, "kdump bitmap 1");
	if (rc < 0)
		return rc;
	rc = vmc_io_read_exact(d, k->bitmap2, (size_t)bm_bytes, bm_off + half, "kdump bitmap 2");
	if (rc < 0)
		return rc;
	/* bits past max_mapnr are not frames */
	for (uint64_t p = k->max_mapnr; p < bm_bytes * 8; p++) {
		k->bitmap1[p >> 3] &= (uint8_t)~(1u << (p & 7));
		k->bitmap2[p >> 3] &= (uint8_t)~(1u << (p & 7));
	}
	uint64_t nblocks = (k->max_mapnr + KD_RANK_BITS - 1) / KD_RANK_BITS;
	k->rank = calloc(nblocks + 1, sizeof(*k->rank));
	if (!k->rank)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	uint64_t total = 0, ram = 0;
	size_t words = alloc / 8;
	for (size_t w = 0; w < words; w++) {
		uint64_t v2, v1;
		memcpy(&v2, k->bitmap2 + w * 8, 8);
		memcpy(&v1, k->bitmap1 + w * 8, 8);
		if (w % (KD_RANK_BITS / 64) == 0)
			k->rank[w / (KD_RANK_BITS / 64)] = total;
		total += (uint64_t)__builtin_popcountll(v2);
		ram += (uint64_t)__builtin_popcountll(v1 | v2);
	}
	k->rank[nblocks] = total;
	k->num_desc = total;
	d->pages_present = total;
	d->pages_total = ram;
	return VMC_OK;
}

static int build_ranges(vmc_dump *d)
{
	struct vmc_kdump *k = &d->kd;
	size_t cap = 0;
	uint64_t ps = k->block_size;

	for (uint64_t p = 0; p < k->max_mapnr;) {
		if (!(bit(k->bitmap1, p) || bit(k->bitmap2, p))) {
			/* skip empty bytes fast */
			if ((p & 7) == 0 && !k->bitmap1[p >> 3] && !k->bitmap2[p >> 3]) {
				p += 8;
				continue;
			}
			p++;
			continue;
		}
		uint64_t s = p;
		while (p < k->max_mapnr && (bit(k->bitmap1, p) || bit(k->bitmap2, p)))
			p++;
		if (d->nranges == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct vmc_range *nr = realloc(d->ranges, nc * sizeof(*nr));
			if (!nr)
				return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
			d->ranges = nr;
			cap = nc;
		}
		d->ranges[d->nranges].start = s * ps;
		d->ranges[d->nranges].end = p * ps;
		d->nranges++;
	}
	return VMC_OK;
}

static uint64_t desc_index(const struct vmc_kdump *k, uint64_t pfn);

/* Descriptor idx: 1 when it lies past the end of the file, 0 read, <0 error. */
static int desc_at(vmc_dump *d, uint64_t idx, uint64_t *off, uint32_t *size, uint32_t *flags)
{
	uint8_t pd[KDUMP_PD_LEN];
	size_t got = 0;
	int rc = d->io->read(d, d->io, pd, sizeof(pd), d->kd.desc_off + idx * KDUMP_PD_LEN, &got);

	if (rc < 0)
		return rc;
	if (got < sizeof(pd))
		return 1;
	*off = le_get64(pd + KDUMP_PD_OFFSET);
	*size = le_get32(pd + KDUMP_PD_SIZE);
	*flags = le_get32(pd + KDUMP_PD_FLAGS);
	return 0;
}

/* Is the data of descriptor idx, or of the first one at or after it that
 * has data of its own, past the end of the file?  Descriptors written as
 * zero (never written) and those sharing the zero page at the start of
 * the data area (§1.7) say nothing about where the writer stopped. */
static int data_lost_from(vmc_dump *d, uint64_t idx, uint64_t data_start, unsigned *seen)
{
	struct vmc_kdump *k = &d->kd;

	for (uint64_t i = idx; i < k->num_desc && i < idx + 64; i++) {
		uint64_t off, end;
		uint32_t size, flags;
		int rc = desc_at(d, i, &off, &size, &flags);
		if (rc)
			return rc;
		if (off == 0 || off < data_start + k->block_size)
			continue;
		*seen |= flags & KDUMP_DH_CODECS;
		return !vmc_add_ok(off, size, &end) || end > d->io->size;
	}
	return 0;
}

/* Data cut short after the descriptors (a full disk): the data is written
 * in descriptor order, so the last descriptor tells whether anything is
 * missing and a binary search finds where it starts; only the descriptors
 * of the lost tail are read one by one, to count them (§1.10).  The codecs
 * seen on the way are what the pages use (the header may name none). */
static int scan_data(vmc_dump *d, unsigned *seen)
{
	struct vmc_kdump *k = &d->kd;
	uint64_t data_start, lo, hi, lost = 0;
	int rc;

	if (!k->num_desc || !vmc_add_ok(k->desc_off, k->num_desc * KDUMP_PD_LEN, &data_start) ||
	    data_start > d->io->size)
		return VMC_OK;   /* the descriptors themselves are cut: incomplete already */
	rc = data_lost_from(d, 0, data_start, seen);
	if (rc < 0)
		return rc;
	rc = data_lost_from(d, k->num_desc > 64 ? k->num_desc - 64 : 0, data_start, seen);
	if (rc < 0)
		return rc;
	/* the last descriptor with data of its own */
	rc = 0;
	for (uint64_t i = k->num_desc; i-- > 0 && k->num_desc - i <= 64;) {
		uint64_t off, end;
		uint32_t size, flags;
		rc = desc_at(d, i, &off, &size, &flags);
		if (rc)
			break;
		if (off == 0 || off < data_start + k->block_size)
			continue;
		*seen |= flags & KDUMP_DH_CODECS;
		rc = !vmc_add_ok(off, size, &end) || end > d->io->size;
		break;
	}
	if (rc < 0)
		return rc;
	if (rc != 1)
		return VMC_OK;
	lo = 0;
	hi = k->num_desc - 1;   /* data_lost_from(hi) is true */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		rc = data_lost_from(d, mid, data_start, seen);
		if (rc < 0)
			return rc;
		if (rc == 1)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (uint64_t i = lo; i < k->num_desc; i++) {
		uint64_t off, end;
		uint32_t size, flags;
		rc = desc_at(d, i, &off, &size, &flags);
		if (rc < 0)
			return rc;
		if (rc == 1 || off == 0 || !vmc_add_ok(off, size, &end) || end > d->io->size)
			lost++;
	}
	k->lost = lost;
	if (lost) {
		d->incomplete = true;
		vmc_warn(d, "kdump page data cut short: %llu pages past end of file (0x%llx); dump truncated",
			 (unsigned long long)lost, (unsigned long long)d->io->size);
	}
	return VMC_OK;
}

int vmc_kdump_open(vmc_dump *d)
{
	struct vmc_kdump *k = &d->kd;
	uint8_t h[KDUMP_HDR_SIZE];
	uint64_t off_note = 0, size_note = 0, off_vmci = 0, size_vmci = 0;
	int rc;

	const struct kd_layout *l;
	bool known;
	uint16_t em;

	rc = vmc_io_read_exact(d, h, sizeof(h), 0, "kdump header");
	if (rc < 0)
		return rc;
	d->format = VMC_FMT_KDUMP;
	k->version = (int)le_get32(h + KDUMP_HDR_VERSION);
	for (int i = 0; i < KDUMP_UTS_FIELDS; i++) {
		memcpy(k->utsname[i], h + KDUMP_HDR_UTSNAME + KDUMP_UTS_LEN * i, KDUMP_UTS_LEN);
		k->utsname[i][KDUMP_UTS_LEN] = 0;
	}
	l = kd_machine(k->utsname[4], &em, &known);
	if (!l || (!known && le_get32(h + KDUMP_HDR_VERSION) > 0xffff &&
		   __builtin_bswap32(le_get32(h + KDUMP_HDR_VERSION)) >= 1 &&
		   __builtin_bswap32(le_get32(h + KDUMP_HDR_VERSION)) <= 0xffff)) {
		char m[2 * KDUMP_UTS_LEN];
		printable(m, sizeof(m), k->utsname[4]);
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED, "big-endian kdump file (%s): not supported",
				   m[0] ? m : "machine not named");
	}
	if (!known && k->utsname[4][0]) {
		char m[2 * KDUMP_UTS_LEN];
		printable(m, sizeof(m), k->utsname[4]);
		vmc_warn(d, "kdump header: machine \"%s\" unknown; read with the 64-bit layout", m);
	}
	k->timestamp = l->ts_width == 8 ? (int64_t)le_get64(h + l->ts) :
					   (int64_t)(int32_t)le_get32(h + l->ts);
	k->status = le_get32(h + l->status);
	k->block_size = le_get32(h + l->block_size);
	k->sub_hdr_size = le_get32(h + l->sub_hdr_size);
	k->bitmap_blocks = le_get32(h + l->bitmap_blocks);
	k->max_mapnr = le_get32(h + l->max_mapnr);
	k->nr_cpus = (int)le_get32(h + l->nr_cpus);

	if (k->version < 1)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "kdump header version %u: unknown (needs 1 or later)", (unsigned)k->version);
	if (k->version > KDUMP_VERSION_MAX)
		vmc_warn(d, "kdump header version %d is newer than %d; read as version %d",
			 k->version, KDUMP_VERSION_MAX, KDUMP_VERSION_MAX);
	if (k->block_size < 1024 || k->block_size > 65536 ||
	    (k->block_size & (k->block_size - 1)))
		return vmc_set_err(d, VMC_ERR_CORRUPT, "kdump header: block size %u%s%s%s",
				   k->block_size, l == &kd_layout64 ? "" : " (",
				   l == &kd_layout64 ? "" : l->name,
				   l == &kd_layout64 ? "" : " layout)");
	if (k->sub_hdr_size == 0 || k->sub_hdr_size > (1u << 20))
		return vmc_set_err(d, VMC_ERR_CORRUPT, "kdump header: sub header of %u blocks",
				   k->sub_hdr_size);
	d->page_size = k->block_size;
	d->page_size_known = true;
	d->machine = em;
	rc = read_sub_header(d, k, l, &off_note, &size_note, &off_vmci, &size_vmci);
	if (rc < 0)
		return rc;
	if (k->version >= 2 && k->split && !d->split_ok)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "this file is one part of a split dump (makedumpfile --split, "
				   "frames 0x%llx-0x%llx); give all the parts at once, or join them "
				   "with makedumpfile --reassemble",
				   (unsigned long long)k->start_pfn, (unsigned long long)k->end_pfn);
	if (!(k->version >= 2 && k->split)) {
		k->split = 0;
		k->start_pfn = 0;
		k->end_pfn = UINT64_MAX;
	}
	if (k->max_mapnr == 0 || k->max_mapnr > KD_MAX_MAPNR)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "kdump header: max_mapnr %llu",
				   (unsigned long long)k->max_mapnr);
	d->compression = k->status & KDUMP_DH_CODECS;
	if (k->status & KDUMP_DH_COMPRESSED_INCOMPLETE) {
		d->incomplete = true;
		vmc_warn(d, "kdump header marks the dump incomplete (it was cut short when written)");
	}
	if (k->status & KDUMP_DH_EXCLUDED_VMEMMAP)
		vmc_warn(d, "vmemmap pages of excluded pages were excluded too (-e)");
	rc = read_notes(d, off_note, size_note, off_vmci, size_vmci);
	if (rc < 0)
		return rc;
	rc = read_bitmaps(d);
	if (rc < 0)
		return rc;
	if (k->split) {
		/* an empty part (start == end) is what makedumpfile --split
		 * writes when the frames run out before the parts do */
		if (k->start_pfn > k->end_pfn || k->end_pfn > k->max_mapnr)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "split part: frames 0x%llx-0x%llx outside 0-0x%llx",
					   (unsigned long long)k->start_pfn,
					   (unsigned long long)k->end_pfn,
					   (unsigned long long)k->max_mapnr);
		k->desc_base = desc_index(k, k->start_pfn);
		k->num_desc = (k->end_pfn == k->max_mapnr ? k->rank[(k->max_mapnr + KD_RANK_BITS - 1) / KD_RANK_BITS]
						       : desc_index(k, k->end_pfn)) - k->desc_base;
		d->pages_present = k->num_desc;
	} else {
		k->end_pfn = k->max_mapnr;
	}
	{
		uint64_t dsz, dend;
		if (!vmc_mul_ok(k->num_desc, KDUMP_PD_LEN, &dsz) ||
		    !vmc_add_ok(k->desc_off, dsz, &dend) || dend > d->io->size) {
			if (!d->incomplete)
				vmc_warn(d, "kdump page descriptors run past end of file; dump truncated");
			d->incomplete = true;
		}
	}
	{
		unsigned seen = 0;
		rc = scan_data(d, &seen);
		if (rc < 0)
			return rc;
		if (seen & ~d->compression) {
			vmc_warn(d, "kdump header names codec %s, pages use %s",
				 vmc_compression_name(d->compression),
				 vmc_compression_name(seen | d->compression));
			d->compression |= seen;
		}
	}
	d->max_pfn = k->max_mapnr;
	if (!d->machine && (d->has_xen || vmc_vmcoreinfo_get(d, "SYMBOL(init_top_pgt)"))) {
		/* the notes were decoded before the machine was known */
		d->machine = EM_X86_64;
		rc = vmc_notes_decode_cpus(d);
		if (rc < 0)
			return rc;
	}
	k->cbuf = malloc(k->block_size);
	if (!k->cbuf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	return build_ranges(d);
}

static uint64_t desc_index(const struct vmc_kdump *k, uint64_t pfn)
{
	uint64_t blk = pfn / KD_RANK_BITS, idx = k->rank[blk];
	size_t w = (size_t)(blk * (KD_RANK_BITS / 64)), wend = (size_t)(pfn / 64);
	uint64_t v;

	for (; w < wend; w++) {
		memcpy(&v, k->bitmap2 + w * 8, 8);
		idx += (uint64_t)__builtin_popcountll(v);
	}
	memcpy(&v, k->bitmap2 + wend * 8, 8);
	if (pfn % 64)
		idx += (uint64_t)__builtin_popcountll(v & ((1ULL << (pfn % 64)) - 1));
	return idx;
}

/* Read page pfn's descriptor: VMC_OK, VMC_NOPAGE (never written: incomplete) or
 * an error. */
static int read_desc(vmc_dump *d, uint64_t pfn, uint64_t *idx, uint64_t *off,
		     uint32_t *size, uint32_t *flags)
{
	struct vmc_kdump *k = &d->kd;
	uint8_t pd[KDUMP_PD_LEN];
	size_t got = 0;
	uint64_t doff;
	int rc;

	*idx = desc_index(k, pfn) - k->desc_base;
	doff = k->desc_off + *idx * KDUMP_PD_LEN;
	rc = d->io->read(d, d->io, pd, sizeof(pd), doff, &got);
	if (rc < 0)
		return vmc_prefix_err(d, rc, "page 0x%llx descriptor %llu",
				      (unsigned long long)pfn, (unsigned long long)*idx);
	if (got < sizeof(pd)) {
		if (d->incomplete)
			return VMC_NOPAGE;
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page 0x%llx: descriptor %llu at 0x%llx beyond end of file (0x%llx)",
				   (unsigned long long)pfn, (unsigned long long)*idx,
				   (unsigned long long)doff, (unsigned long long)d->io->size);
	}
	*off = le_get64(pd + KDUMP_PD_OFFSET);
	*size = le_get32(pd + KDUMP_PD_SIZE);
	*flags = le_get32(pd + KDUMP_PD_FLAGS);
	if (*off == 0)
		return VMC_NOPAGE;
	return VMC_OK;
}

/* The part of a split set that holds pfn (d itself when not split). */
static vmc_dump *part_of(const vmc_dump *d, uint64_t pfn)
{
	const struct vmc_kdump *k = &d->kd;

	if (!k->split || (pfn >= k->start_pfn && pfn < k->end_pfn))
		return (vmc_dump *)d;
	for (size_t i = 0; i < k->nparts; i++)
		if (pfn >= k->parts[i]->kd.start_pfn && pfn < k->parts[i]->kd.end_pfn)
			return k->parts[i];
	return NULL;   /* vmc_open_paths made sure every frame has a part */
}

int vmc_kdump_page_state(const vmc_dump *d, uint64_t pfn)
{
	const struct vmc_kdump *k = &d->kd;
	const vmc_dump *p = part_of(d, pfn);

	if (p && p != d)
		return vmc_kdump_page_state(p, pfn);

	if (bit(k->bitmap2, pfn)) {
		if (d->incomplete) {
			uint64_t idx, off;
			uint32_t size, flags;
			/* reading a descriptor only touches the error message */
			uint64_t end;
			int rc = read_desc((vmc_dump *)d, pfn, &idx, &off, &size, &flags);
			if (rc == VMC_NOPAGE || (rc == VMC_OK && (!vmc_add_ok(off, size, &end) ||
								  end > d->io->size)))
				return VMC_PAGE_INCOMPLETE;
		}
		return VMC_PAGE_PRESENT;
	}
	return bit(k->bitmap1, pfn) ? VMC_PAGE_EXCLUDED : VMC_PAGE_HOLE;
}

int vmc_kdump_read_page(vmc_dump *d, uint64_t pfn, void *buf)
{
	struct vmc_kdump *k = &d->kd;
	uint64_t idx, off, end;
	uint32_t size, flags;
	size_t got = 0;
	int rc;

	if (!bit(k->bitmap2, pfn))
		return VMC_NOPAGE;
	{
		vmc_dump *p = part_of(d, pfn);
		if (!p)
			return vmc_set_err(d, VMC_ERR_CORRUPT, "page 0x%llx: in no part of the split set",
					   (unsigned long long)pfn);
		if (p != d) {
			rc = vmc_kdump_read_page(p, pfn, buf);
			if (rc < 0)
				vmc_set_err(d, rc, "%s", vmc_errmsg(p));
			return rc;
		}
	}
	rc = read_desc(d, pfn, &idx, &off, &size, &flags);
	if (rc != VMC_OK)
		return rc;
	if (size == 0 || size > k->block_size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page 0x%llx: descriptor %llu size %u (block size %u)",
				   (unsigned long long)pfn, (unsigned long long)idx, size,
				   k->block_size);
	if (!vmc_add_ok(off, size, &end) || end > d->io->size) {
		if (d->incomplete)
			return VMC_NOPAGE;
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "page 0x%llx: descriptor %llu data 0x%llx+%u beyond end of file (0x%llx)",
				   (unsigned long long)pfn, (unsigned long long)idx,
				   (unsigned long long)off, size, (unsigned long long)d->io->size);
	}
	if (flags == 0) {
		if (size != k->block_size)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "page 0x%llx: descriptor %llu uncompressed but %u bytes",
					   (unsigned long long)pfn, (unsigned long long)idx, size);
		rc = d->io->read(d, d->io, buf, size, off, &got);
		if (rc < 0)
			return vmc_prefix_err(d, rc, "page 0x%llx", (unsigned long long)pfn);
		return got == size ? VMC_OK : VMC_NOPAGE;
	}
	rc = d->io->read(d, d->io, k->cbuf, size, off, &got);
	if (rc < 0)
		return vmc_prefix_err(d, rc, "page 0x%llx", (unsigned long long)pfn);
	if (got != size)
		return VMC_NOPAGE;
	rc = vmc_decompress(d, flags, k->cbuf, size, buf, k->block_size);
	if (rc < 0)
		return vmc_prefix_err(d, rc, "page 0x%llx (descriptor %llu)",
				      (unsigned long long)pfn, (unsigned long long)idx);
	return VMC_OK;
}

/* A split set (§1.9): d is open on the first part; the others are opened
 * and checked to be the same dump, and together to cover every frame. */
static int part_check(vmc_dump *d, vmc_dump *p, const char *path)
{
	const struct vmc_kdump *a = &d->kd, *b = &p->kd;

	if (p->format != VMC_FMT_KDUMP || !b->split)
		return vmc_set_err(d, VMC_ERR_ARG, "%s: not a part of a split dump", path);
	if (a->max_mapnr != b->max_mapnr || a->block_size != b->block_size ||
	    a->timestamp != b->timestamp || memcmp(a->utsname, b->utsname, sizeof(a->utsname)) ||
	    a->bitmap_bytes != b->bitmap_bytes ||
	    memcmp(a->bitmap1, b->bitmap1, (size_t)a->bitmap_bytes) ||
	    memcmp(a->bitmap2, b->bitmap2, (size_t)a->bitmap_bytes))
		return vmc_set_err(d, VMC_ERR_ARG,
				   "%s: a part of another dump (its header or bitmaps differ from the first part's)",
				   path);
	return VMC_OK;
}

static int range_cmp(const void *x, const void *y)
{
	const vmc_dump *a = *(vmc_dump *const *)x, *b = *(vmc_dump *const *)y;
	return a->kd.start_pfn < b->kd.start_pfn ? -1 : a->kd.start_pfn > b->kd.start_pfn;
}

int vmc_kdump_join(vmc_dump *d, const char *const *paths, size_t n)
{
	struct vmc_kdump *k = &d->kd;
	vmc_dump **all;
	uint64_t next = 0;
	int rc = VMC_OK;

	if (d->format != VMC_FMT_KDUMP || !k->split)
		return vmc_set_err(d, VMC_ERR_ARG, "%s: not a part of a split dump", paths[0]);
	k->parts = calloc(n - 1, sizeof(*k->parts));
	all = calloc(n, sizeof(*all));
	if (!k->parts || !all) {
		free(all);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	all[0] = d;
	for (size_t i = 1; i < n && rc >= 0; i++) {
		vmc_dump *p = vmc_dump_create();
		if (!p) {
			rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
			break;
		}
		k->parts[k->nparts++] = p;
		p->split_ok = true;
		rc = vmc_open_path(p, paths[i]);
		if (rc < 0)
			rc = vmc_set_err(d, rc, "%s: %s", paths[i], vmc_errmsg(p));
		else
			rc = part_check(d, p, paths[i]);
		all[i] = p;
	}
	if (rc >= 0) {
		qsort(all, n, sizeof(*all), range_cmp);
		for (size_t i = 0; i < n && rc >= 0; i++) {
			const struct vmc_kdump *b = &all[i]->kd;
			if (b->start_pfn > next)
				rc = vmc_set_err(d, VMC_ERR_ARG,
						 "split dump: frames 0x%llx-0x%llx are in none of the parts given (a part is missing)",
						 (unsigned long long)next, (unsigned long long)b->start_pfn);
			else if (b->start_pfn < next)
				rc = vmc_set_err(d, VMC_ERR_ARG,
						 "split dump: two parts hold frame 0x%llx (a part given twice?)",
						 (unsigned long long)b->start_pfn);
			next = b->end_pfn;
		}
		if (rc >= 0 && next < k->max_mapnr)
			rc = vmc_set_err(d, VMC_ERR_ARG,
					 "split dump: frames 0x%llx-0x%llx are in none of the parts given (a part is missing)",
					 (unsigned long long)next, (unsigned long long)k->max_mapnr);
	}
	if (rc >= 0)
		for (size_t i = 0; i < k->nparts; i++) {
			d->pages_present += k->parts[i]->pages_present;
			if (k->parts[i]->incomplete && !d->incomplete) {
				d->incomplete = true;
				vmc_warn(d, "split part %zu is incomplete (cut short)", i + 1);
			}
			d->compression |= k->parts[i]->compression;
		}
	free(all);
	return rc;
}
