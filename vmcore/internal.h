/* internal.h - shared between the vmcore library's own files; not installed. */
#ifndef SALVAGE_VMCORE_INTERNAL_H
#define SALVAGE_VMCORE_INTERNAL_H

#include "vmcore.h"
#include "../common/le.h"
#include "../xen-notes/xnote.h"
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define VMC_ERRMSG_MAX 512

/* Byte-addressed input: a plain file, a memory buffer, or the virtual file that a
 * flattened stream describes.  read() returns the bytes read (short only at the
 * end of the input) or a negative vmc_status with the message set on the dump. */
struct vmc_io {
	int (*read)(vmc_dump *d, struct vmc_io *io, void *buf, size_t len,
		    uint64_t off, size_t *got);
	void (*destroy)(struct vmc_io *io);
	uint64_t size;       /* total bytes addressable */
	uint64_t stored;     /* bytes really stored (a flattened stream's virtual
			      * file can be far larger than the stream); any
			      * allocation sized from dump fields stays below it */
};

/* flags: VMC_OPEN_MMAP, VMC_OPEN_MMAP_PROC (vmc_open_path_flags) */
struct vmc_io *vmc_io_fd_create(vmc_dump *d, int fd, bool owned, unsigned flags);
struct vmc_io *vmc_io_mem_create(vmc_dump *d, const void *buf, size_t len);
/* Index a flattened stream read through base; takes ownership of base. */
int vmc_io_flat_create(vmc_dump *d, struct vmc_io *base, struct vmc_io **out);
bool vmc_is_flat_signature(const uint8_t *buf, size_t len);

/* Read exactly len bytes at off; a short read is VMC_ERR_CORRUPT naming what. */
int vmc_io_read_exact(vmc_dump *d, void *buf, size_t len, uint64_t off,
		      const char *what);

struct vmc_elf_load {
	uint64_t paddr, vaddr, offset, filesz, memsz;
	uint64_t filesz_declared;  /* filesz may be clamped at end of file */
};

struct vmc_elf {
	uint16_t machine;
	uint32_t e_flags;
	size_t nloads;
	struct vmc_elf_load *loads;   /* program header order */
	/* one allocation, nloads entries each: */
	uint64_t *cover_end;          /* running max of paddr+memsz in by_paddr order */
	size_t *by_paddr;             /* indices into loads sorted by paddr */
	size_t *scratch;              /* the loads touching one page */
};

struct vmc_kdump {
	int version;
	uint32_t status;
	uint32_t block_size;
	uint32_t sub_hdr_size;
	uint32_t bitmap_blocks;
	uint64_t max_mapnr;
	int nr_cpus;
	int64_t timestamp;
	char utsname[6][66];
	uint64_t phys_base;
	int dump_level;
	int split;
	uint64_t desc_off;       /* file offset of the page descriptor array */
	uint64_t num_desc;       /* set bits in bitmap2 */
	uint64_t lost;           /* descriptors whose data is past the end of file */
	/* a part of a split set (§1.9): its frames [start_pfn, end_pfn); its
	 * descriptors count from start_pfn (desc_base bits of bitmap2 before) */
	uint64_t start_pfn, end_pfn, desc_base;
	vmc_dump **parts;        /* the set's other parts (on the first part) */
	size_t nparts;
	uint8_t *bitmap1, *bitmap2;
	uint64_t bitmap_bytes;   /* bytes of each bitmap */
	uint64_t *rank;          /* set bits in bitmap2 before each 4096-bit block */
	uint8_t *cbuf;           /* compressed page buffer, block_size bytes */
};

#define VMC_TLB_SIZE 256
struct vmc_tlb_entry {
	bool valid;
	uint64_t vpage, ppage;
};

struct vmc_vtop {
	int ready;               /* 0 untried, 1 ready, -1 failed (why says why) */
	char why[160];
	uint64_t phys_base;
	uint64_t root;           /* physical address of the top page table */
	int levels;              /* 4 or 5 */
	uint64_t sme_mask;
	uint64_t page_offset;    /* direct-map base, 0 when unknown */
	struct vmc_tlb_entry tlb[VMC_TLB_SIZE];
};

struct vmc_kv_store {
	char *raw;               /* owned copy of the text as found, NUL-terminated */
	char *text;              /* owned copy cut into keys and values */
	size_t len;
	struct vmc_kv *kv;
	size_t n;
};

struct vmc_dump {
	char errmsg[VMC_ERRMSG_MAX];
	char **warnings;
	size_t nwarnings;
	bool opened;
	unsigned open_flags;     /* VMC_OPEN_* given to vmc_open_path_flags */
	bool split_ok;           /* opening one part of a split set (vmc_open_paths) */

	struct vmc_io *io;        /* the dump's bytes (flat already resolved) */
	bool flattened;
	enum vmc_format format;
	const char *producer;
	uint32_t page_size;
	bool page_size_known;    /* false: page_size is only the unit of access */
	uint16_t machine;
	bool incomplete;
	unsigned compression;

	struct vmc_elf elf;
	struct vmc_kdump kd;

	uint8_t *note_bytes;     /* owned copy of all note bytes */
	size_t note_len;
	struct vmc_note *notes;
	size_t nnotes;
	char *note_names;        /* storage for note names */

	struct vmc_cpu *cpus;
	size_t ncpus;

	struct vmc_kv_store vmci, xen_vmci;
	bool has_xen;
	struct vmc_xen xen;
	struct xnote_crash_info xen_ci; /* CRASH_INFO as parsed; xen is its public view */

	struct vmc_range *ranges;
	size_t nranges;
	uint64_t max_pfn;
	uint64_t pages_total, pages_present;
	uint8_t *pagebuf;        /* one page scratch for vmc_read_phys */
	void *zstd_dctx;         /* ZSTD_DCtx, created on first use */
	struct vmc_vtop vtop;
	struct vmc_xcore *xcore;  /* a Xen guest core (xen-core.c), else NULL */
};

/* Page-table walk without the shortcuts (used to verify them). */
int vmc_vtop_walk(vmc_dump *d, uint64_t va, uint64_t *pa);

/* Messages and warnings.  vmc_set_err returns code for "return vmc_set_err(...)".
 * vmc_prefix_err prepends context to an existing message. */
int vmc_set_err(vmc_dump *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmc_prefix_err(vmc_dump *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmc_warn(vmc_dump *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Format readers. */
int vmc_elf_open(vmc_dump *d);
int vmc_elf_page_state(const vmc_dump *d, uint64_t pfn);
int vmc_elf_read_page(vmc_dump *d, uint64_t pfn, void *buf);
size_t vmc_elf_read_run(vmc_dump *d, uint64_t pfn, size_t n, void *buf);
uint64_t vmc_elf_next_edge(const vmc_dump *d, uint64_t pfn);
void vmc_elf_free(struct vmc_elf *e);

/* Build the page index and RAM ranges from d->elf.loads (elf.c;
 * xen-core-p2m.c fills the loads itself). */
int vmc_elf_build_index(vmc_dump *d);

/* Xen guest cores (xen-core.c).  is_xcore: an ELF core header (64 bytes)
 * with no program headers but section headers, the dump-core shape. */
bool vmc_xcore_probe(const uint8_t *eh, size_t len);
int vmc_xcore_open(vmc_dump *d);
void vmc_xcore_free(vmc_dump *d);
/* Any other dump: its SALVAGE_P2M note (written from a PV guest core) makes
 * vtop walk its page tables in machine frames, as for the core. */
void vmc_xcore_after_open(vmc_dump *d);
/* The page-table walk of vtop for a guest core (xen-core-p2m.c): a PV
 * guest's tables hold machine frames (root: the pfn-based address of the
 * top table). */
int vmc_xcore_pt_walk(vmc_dump *d, uint64_t root, int levels, uint64_t clear, uint64_t va,
		      uint64_t *pa, struct xnote_pt_stop *st);

int vmc_kdump_open(vmc_dump *d);
int vmc_kdump_page_state(const vmc_dump *d, uint64_t pfn);
int vmc_kdump_read_page(vmc_dump *d, uint64_t pfn, void *buf);
/* d is open on paths[0], a split part: open and check the others. */
int vmc_kdump_join(vmc_dump *d, const char *const *paths, size_t n);
void vmc_kdump_free(struct vmc_kdump *k);

/* Notes: d->note_bytes holds the concatenated note areas; area i starts at
 * starts[i], is lens[i] bytes long and came from file offset offs[i].  Parsing
 * fills d->notes; finishing derives CPUs, VMCOREINFO and Xen info from them. */
int vmc_notes_parse_areas(vmc_dump *d, const size_t *starts, const size_t *lens,
			  const uint64_t *offs, size_t nareas, uint64_t align_hint);
int vmc_notes_finish(vmc_dump *d);
/* Decode the CORE notes into d->cpus for d->machine (again, if it changed). */
int vmc_notes_decode_cpus(vmc_dump *d);
/* Free the note copy, the parsed notes and the CPUs. */
void vmc_notes_free(vmc_dump *d);
/* Needs page access: call once the format reader is ready. */
void vmc_xen_read_strings(vmc_dump *d);

/* Key/value text ("KEY=VALUE\n"). */
int vmc_kv_parse(vmc_dump *d, struct vmc_kv_store *s, const char *text, size_t len,
		 const char *what);
void vmc_kv_free(struct vmc_kv_store *s);
const char *vmc_kv_get(const struct vmc_kv_store *s, const char *key);

/* Decompression of one page; out holds page_size bytes. */
void vmc_codec_free(vmc_dump *d);
int vmc_decompress(vmc_dump *d, unsigned codec, const void *in, size_t inlen,
		   void *out, size_t outlen);

/* Xen (xen.c): called once a dump is open; turns a SALVAGE_XEN note (fixes
 * made when the dump was written) into warnings. */
void vmc_xen_after_open(vmc_dump *d);

/* a + b, false on overflow. */
static inline bool vmc_add_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_add_overflow(a, b, r);
}
static inline bool vmc_mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_mul_overflow(a, b, r);
}

/* Merge ranges in place (sorted by start, overlaps joined); returns the count. */
size_t vmc_ranges_merge(struct vmc_range *r, size_t n);

#endif
