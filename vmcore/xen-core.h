/* xen-core.h - private to the reader of Xen guest cores (xen-core.c,
 * xen-core-sections.c, xen-core-p2m.c), xen-pvdump.c and dump.c: a Xen
 * guest core (docs/formats.md §4.9) and the dumps written from a PV one. */
#ifndef SALVAGE_XEN_CORE_H
#define SALVAGE_XEN_CORE_H

#include "internal.h"

#define PAGE 4096u
#define SHDR_SIZE 64
#define MAX_SECTIONS 1024
#define MAX_STRTAB (1u << 16)
#define MAX_NOTE_SEC (1u << 20)
#define CTX_SIZE 5168                 /* vcpu_guest_context, x86_64 */
#define CTX_REGS 520                  /* user_regs (struct cpu_user_regs) */
#define CTX_CTRLREG 4984
#define CTX_KERNEL_SP 4976
#define CTX_FS_BASE 5144
#define MAX_VCPUS 4096
#define PFN_LIMIT (1ULL << 40)        /* 52-bit guest physical addresses */
#define INVALID_ENTRY (~0ULL)
#define NT_XEN_DUMPCORE_NONE 0x2000000u
#define NT_XEN_DUMPCORE_HEADER 0x2000001u
#define NT_XEN_DUMPCORE_XEN_VERSION 0x2000002u
#define NT_XEN_DUMPCORE_FORMAT_VERSION 0x2000003u
#define MAGIC_PV 0xf00febedULL
#define MAGIC_HVM 0xf00febeeULL
#define PRSTATUS_SIZE 336
#define SCAN_BATCH 64
#define TABLE_CHUNK 4096              /* entries read at a time */
#define PTE_ADDR 0x000ffffffffff000ULL
#define P2M_NOTE "SALVAGE_P2M"        /* docs/formats.md §4.9 */
#define P2M_NOTE_MAX_RUNS (1u << 16)

struct xent {
	uint64_t pfn, gmfn, idx;
};

struct xrun {
	uint64_t pfn, mfn, n;
};

/* A section of the core that the reader uses, by its name. */
struct section {
	const char *name;
	uint64_t off, size, entsize;
	bool found;
};

enum { S_NOTE, S_PRSTATUS, S_SHINFO, S_PAGES, S_P2M, S_PFN, S_COUNT };

struct vmc_xcore {
	struct vmc_xen_core pub;
	bool from_note;               /* a dump written from a PV guest core */
	bool machine_file;            /* from_note: its frames are machine frames,
				       * read through the runs (dump.c) */
	bool machine_view;            /* a PV core opened with
				       * VMC_OPEN_MACHINE_FRAMES: its frames are
				       * machine frames, no vtop */
	uint64_t file_frames;         /* machine_file: the file's own frames */
	struct vmc_range *file_ranges;/* ... and its own ranges */
	size_t nfile_ranges;
	uint64_t fll;                 /* PV: the P2M frame list list's MFN
				       * (shared_info), 0 when none */
	uint64_t pages_off;           /* file offset of .xen_pages */
	uint64_t *tree;               /* PV: the P2M tree's MFNs, sorted */
	size_t ntree;
	struct xrun *runs_pfn;        /* from_note: the note's runs by pfn */
	struct xrun *runs_mfn;        /* ... and by machine frame */
	size_t nruns;
	struct vmc_xen_vcpu *vcpus;
	struct xent *by_pfn;          /* distinct pfns, sorted */
	size_t n;
	struct xent *by_mfn;          /* PV: distinct machine frames, sorted */
	size_t nm;
	char *vmci;
	size_t vmci_len;
};

#define NT_XEN_CRASH_INFO 0x1000001u  /* docs/formats.md §4.4 */
#define CRASH_INFO_SIZE 80
#define SHINFO_FLL 3096               /* shared_info.arch.pfn_to_mfn_frame_list_list */
#define P2M_NOTE_MACHINE 1u           /* SALVAGE_P2M type: frames are MFNs */

/* The stages of vmc_xcore_open (xen-core.c).  xen-core-sections.c: the
 * sections the reader uses, by name (s: S_COUNT of them, zeroed); the bytes
 * of one that the file holds (a section cut short is reported, d->incomplete
 * set); the .note.Xen notes into x->pub (header, Xen and format version). */
int vmc_xcore_read_sections(vmc_dump *d, struct section *s);
uint64_t vmc_xcore_section_avail(vmc_dump *d, const struct section *s);
int vmc_xcore_read_notes(vmc_dump *d, struct vmc_xcore *x, const struct section *s);
/* xen-core-p2m.c: the table (tab: .xen_p2m or .xen_pfn) into x->by_pfn and,
 * PV, x->by_mfn; its loads over .xen_pages and the page index; the entry of
 * a pfn in x->by_pfn, or NULL. */
int vmc_xcore_read_table(vmc_dump *d, struct vmc_xcore *x, const struct section *tab,
			 const struct section *pages, uint64_t npages);
int vmc_xcore_build_loads(vmc_dump *d, struct vmc_xcore *x, const struct section *pages);
const struct xent *vmc_xcore_find_pfn(const struct vmc_xcore *x, uint64_t pfn);

/* The run holding v (by pfn, or by mfn when by_mfn), or NULL. */
const struct xrun *vmc_xcore_find_run(const struct xrun *r, size_t n, uint64_t v, bool by_mfn);
/* The table as (pfn, mfn, count) runs, sorted by pfn; out NULL: count only. */
size_t vmc_xcore_p2m_runs(const struct vmc_xcore *x, uint8_t *out);
int vmc_xcore_fill_loads(vmc_dump *d, const struct xent *ents, size_t n, bool mfn,
			 uint64_t pages_off, bool *cut);
/* Which direct-map base maps the guest's top page table. */
void vmc_xcore_find_page_offset(vmc_dump *d);
/* PV core, still by pfn: the P2M tree's pages from fll (crash's walk). */
int vmc_xcore_p2m_tree(vmc_dump *d, struct vmc_xcore *x);
/* The CRASH_INFO note crash(8) takes a PV guest's P2M from; out NULL:
 * its size (0 when there is no frame list list). */
size_t vmc_xcore_crash_info_note(const struct vmc_xcore *x, uint8_t *out);
/* PV core: present it by machine frame (loads by MFN). */
/* A dump whose SALVAGE_P2M note says its frames are machine frames: pfn's
 * machine frame and the frames left in its run (VMC_OK), or VMC_NOPAGE and
 * the frames up to the next run (UINT64_MAX: none). */
int vmc_xcore_pfn_run(const vmc_dump *d, uint64_t pfn, uint64_t *mfn, uint64_t *n);
int vmc_xcore_machine_view(vmc_dump *d, struct vmc_xcore *x);

#endif
