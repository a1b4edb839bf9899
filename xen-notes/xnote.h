/* xnote.h - Xen crash dumps (the only public header of the xen-notes library).
 *
 * Pure functions: no I/O and no allocation.  Machine memory is read through a
 * caller's callback (xnote_read_fn), so everything here is tested on plain
 * buffers; contexts are structures the caller places where it likes.
 * Layouts and quirks: docs/formats.md §4.
 *
 *   notes     CRASH_INFO (every layout), CRASH_REGS, VMCOREINFO_XEN keys,
 *             normalisation of a Xen dump's notes (quirks fixed and listed)
 *   p2m       dom0's pseudo-physical to machine map from the CRASH_INFO frame
 *             list list (3 levels of 512 entries)
 *   xen       Xen's own address space (page tables from SYMBOL(pgd_l4), text
 *             and direct map), frame_table/page_info ownership per Xen
 *             version, domain_list, M2P, console ring
 *   dom0      dom0 virtual to machine translation (PV: page tables hold MFNs)
 *             and recognising dom0's VMCOREINFO in a page
 *
 * Errors: functions return enum xnote_status; on a negative status the context
 * (when there is one) holds a one-line message in its err field, written "the
 * failing thing first, lowercase, no full stop".
 */
#ifndef SALVAGE_XNOTE_H
#define SALVAGE_XNOTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum xnote_status {
	XNOTE_OK = 0,
	XNOTE_NOPAGE = 1,          /* memory not in the dump (normal: filtered, hole) */
	XNOTE_ERR_CORRUPT = -1,    /* inconsistent data */
	XNOTE_ERR_IO = -2,         /* the read callback failed */
	XNOTE_ERR_NOTFOUND = -5,   /* a key or symbol the operation needs is absent */
	XNOTE_ERR_ARG = -6,
	XNOTE_ERR_SPACE = -7,      /* the caller's buffer is too small */
};

/* Read len bytes of machine memory at maddr into buf.  Returns XNOTE_OK,
 * XNOTE_NOPAGE when a page touched is not in the dump, or a negative status. */
typedef int (*xnote_read_fn)(void *arg, uint64_t maddr, void *buf, size_t len);

#define XNOTE_ERR_MAX 192

/* ---- notes --------------------------------------------------------------- */

#define XNOTE_NAME "Xen"
#define XNOTE_TYPE_CRASH_INFO 0x1000001u
#define XNOTE_TYPE_CRASH_REGS 0x1000002u
#define XNOTE_TYPE_KDUMP_CR3 0x10000001u  /* obsolete single-cr3 note (crash knows it) */
#define XNOTE_CRASH_INFO_MIN 64   /* the eight fields every layout has */
#define XNOTE_CRASH_INFO_SIZE 80  /* the current layout */
/* Notes salvage adds to a Xen dump it writes (type 0, text "KEY=VALUE\n"):
 * dom0's own VMCOREINFO found in dom0's memory, and the list of fixes. */
#define XNOTE_NAME_DOM0_VMCOREINFO "VMCOREINFO_DOM0"
#define XNOTE_NAME_SALVAGE "SALVAGE_XEN"

/* Historical crash_xen_info_t layouts, told apart by descriptor size. */
enum xnote_layout {
	XNOTE_LAYOUT_V0,      /* 64 bytes: no xen_phys_start, no P2M frame */
	XNOTE_LAYOUT_V1,      /* 72 bytes: + dom0_pfn_to_mfn_frame_list_list */
	XNOTE_LAYOUT_CURRENT, /* 80 bytes: xen_phys_start inserted before it */
	XNOTE_LAYOUT_LONGER,  /* > 80 bytes: read as current, P2M frame last */
};

struct xnote_crash_info {
	enum xnote_layout layout;
	uint64_t major, minor;
	uint64_t extra_version, changeset, compiler, compile_date, compile_time;
	uint64_t tainted;
	bool has_phys_start;
	uint64_t phys_start;
	bool has_p2m;
	uint64_t p2m_mfn;     /* MFN of dom0's P2M top page; 0 or ~0: see §4.6.8 */
};

/* Parse a CRASH_INFO descriptor.  The P2M frame is always the last 8-byte word
 * (the one field every tool agrees on); xen_phys_start is read only from
 * layouts of 80 bytes or more.  Returns 0, or -1 if desc is shorter than
 * XNOTE_CRASH_INFO_MIN. */
int xnote_parse_crash_info(const uint8_t *desc, size_t len, struct xnote_crash_info *out);
const char *xnote_layout_name(enum xnote_layout l);
/* Write ci in the current 80-byte layout into out. */
void xnote_write_crash_info(const struct xnote_crash_info *ci, uint8_t out[XNOTE_CRASH_INFO_SIZE]);

/* Parse a CRASH_REGS descriptor into cr[0..3] = cr0, cr2, cr3, cr4.
 * Returns 0, or -1 if desc is shorter than 32 bytes. */
int xnote_parse_crash_regs(const uint8_t *desc, size_t len, uint64_t cr[4]);

/* Value of KEY in "KEY=VALUE\n" text (VMCOREINFO, VMCOREINFO_XEN), text of
 * len bytes (stops at a NUL).  Copies the value, NUL-terminated, into val
 * (truncated to cap - 1); returns false when the key is absent. */
bool xnote_kv_get(const char *text, size_t len, const char *key, char *val, size_t cap);
/* Numeric forms: SYMBOL(...) hexadecimal, others decimal ("0x" accepted). */
bool xnote_kv_hex(const char *text, size_t len, const char *key, uint64_t *v);
bool xnote_kv_dec(const char *text, size_t len, const char *key, uint64_t *v);

/* Normalising a Xen dump's notes for output: every note re-serialised with
 * 4-byte alignment (no padding, no empty notes, no 8-byte alignment), the
 * VMCOREINFO_XEN descriptor cut to its text, duplicates dropped, CRASH_INFO
 * rewritten in the current layout when xen_phys_start is known, dom0's
 * VMCOREINFO added when found, and a SALVAGE_XEN note listing the fixes. */
struct xnote_note {
	const char *name;
	uint32_t type;
	const uint8_t *desc;
	uint32_t descsz;            /* for text notes: the text without NUL padding */
	uint32_t descsz_declared;   /* n_descsz as found */
};
#define XNOTE_MAX_FIXES 12
#define XNOTE_FIX_LEN 160
struct xnote_fixes {
	size_t n;
	char text[XNOTE_MAX_FIXES][XNOTE_FIX_LEN];  /* one line each, lowercase */
};
struct xnote_norm_opts {
	bool has_phys_start;        /* xen_phys_start derived by the caller, used */
	uint64_t phys_start;        /* when CRASH_INFO lacks it */
	const char *dom0_vmcoreinfo;/* dom0's VMCOREINFO text, or NULL */
	size_t dom0_vmcoreinfo_len;
	uint64_t dom0_vmcoreinfo_maddr;
	bool repacked;              /* the source notes had padding, empty notes or
				     * 8-byte alignment (the caller's reader knows) */
};
/* Upper bound of the output size for these notes and options. */
size_t xnote_normalize_bound(const struct xnote_note *notes, size_t n,
			     const struct xnote_norm_opts *o);
/* Write the normalised notes into out (cap bytes; XNOTE_ERR_SPACE if short);
 * *outlen gets the size, fx (optional) the fixes made. */
int xnote_normalize(const struct xnote_note *notes, size_t n, const struct xnote_norm_opts *o,
		    uint8_t *out, size_t cap, size_t *outlen, struct xnote_fixes *fx);

/* ---- p2m: dom0 pseudo-physical -> machine -------------------------------- */

#define XNOTE_P2M_PER_PAGE 512     /* 8-byte entries per 4 KiB page */
#define XNOTE_P2M_MAX_PFN (512ULL * 512 * 512)
#define XNOTE_P2M_NONE (~0ULL)        /* the invalid entry value */
#define XNOTE_P2M_FOREIGN_BIT (1ULL << 63)
#define XNOTE_P2M_IDENTITY_BIT (1ULL << 62)
#define XNOTE_P2M_LEAVES 8         /* leaf pages cached */

enum xnote_p2m_kind {
	XNOTE_P2M_VALID,      /* mfn is the machine frame */
	XNOTE_P2M_IDENTITY,   /* 1:1 (MMIO, ACPI): mfn == pfn, not dom0 RAM */
	XNOTE_P2M_FOREIGN,    /* a frame of another domain mapped by dom0 */
	XNOTE_P2M_INVALID,    /* ~0: no backing */
	XNOTE_P2M_MISSING,    /* the range points at Linux's shared p2m_missing
			       * pages (or a zero entry): no backing */
};
const char *xnote_p2m_kind_name(enum xnote_p2m_kind k);

struct xnote_p2m_leaf {
	uint64_t tag;          /* pfn / 512 of the cached page, ~0 when empty */
	uint64_t e[XNOTE_P2M_PER_PAGE];
};
struct xnote_p2m {
	xnote_read_fn read;
	void *arg;
	uint64_t top_mfn;
	uint64_t top[XNOTE_P2M_PER_PAGE];
	uint64_t missing_mid;  /* MFN of the shared p2m_mid_missing page, 0 if none */
	uint64_t missing_leaf; /* MFN of the shared p2m_missing leaf, 0 if none */
	uint64_t mid_tag;      /* top index of the cached mid page, ~0 when empty */
	uint64_t mid[XNOTE_P2M_PER_PAGE];
	struct xnote_p2m_leaf leaf[XNOTE_P2M_LEAVES];
	unsigned next_victim;
	uint64_t end_pfn;      /* one past the last pfn that is not invalid/missing */
	/* the linear (virtually mapped) P2M a PV Linux publishes instead when
	 * its toolstack says SIF_VIRT_P2M_4TOOLS (xl does): an array of entries
	 * at lin_vaddr in the address space of the page tables at lin_root
	 * (machine addresses, a PV guest's), max_pfn entries long */
	bool linear;
	uint64_t lin_root, lin_vaddr;
	char err[XNOTE_ERR_MAX];
};
/* Read the top page (and find Linux's shared "missing" pages).  top_mfn must
 * not be 0 or ~0 (no frame list list: PVH dom0, or dom0 >= 512 GiB, §4.6.8). */
int xnote_p2m_init(struct xnote_p2m *p, xnote_read_fn read, void *arg, uint64_t top_mfn);
/* The linear P2M instead (arch.p2m_cr3, p2m_vaddr, max_pfn of the guest's
 * shared_info, docs/formats.md §4.12): lookups read the entry through the
 * guest's page tables; end_pfn is max_pfn.  The page holding pfn 0's entry
 * must be readable. */
int xnote_p2m_init_linear(struct xnote_p2m *p, xnote_read_fn read, void *arg, uint64_t cr3,
			  uint64_t vaddr, uint64_t max_pfn);
/* Translate one pfn.  *mfn is the frame with the foreign/identity bits
 * stripped (XNOTE_P2M_NONE for invalid and missing entries).  A page of the
 * tree that is not in the dump gives XNOTE_NOPAGE. */
int xnote_p2m_lookup(struct xnote_p2m *p, uint64_t pfn, uint64_t *mfn,
		     enum xnote_p2m_kind *kind);
/* Find end_pfn by walking the tree from the top (mid pages only: a leaf is
 * read only for the last populated range).  A tree page not in the dump
 * does not fail it: the end is then the end of the range that page maps
 * (the lookups there give XNOTE_NOPAGE, naming the page). */
int xnote_p2m_find_end(struct xnote_p2m *p, uint64_t *end_pfn);
/* The MFNs of the tree's own pages (top, mid and leaf pages that are not the
 * shared missing ones), for callers that must keep them; *n set to the count
 * (may exceed cap: only cap are written). */
int xnote_p2m_tree_frames(struct xnote_p2m *p, uint64_t *mfns, size_t cap, size_t *n);

/* ---- xen: the hypervisor's address space and data ------------------------ */

/* count_info layouts (docs/formats.md §4.8 table), chosen by version. */
enum xnote_pgc_layout {
	XNOTE_PGC_4_0,     /* 4.0-4.13: broken bit 57, state bits 55-56 */
	XNOTE_PGC_4_14,    /* 4.14-4.16: same flags, extra bit 54 */
	XNOTE_PGC_4_17,    /* 4.17: broken bit 60, state bits 58-59 */
	XNOTE_PGC_4_18,    /* 4.18 and later: as 4.17, extra bit 61 */
};
const char *xnote_pgc_layout_name(enum xnote_pgc_layout l);
enum xnote_pgc_layout xnote_pgc_layout_for(unsigned major, unsigned minor);

enum xnote_pg_state { XNOTE_PGS_INUSE, XNOTE_PGS_OFFLINING, XNOTE_PGS_OFFLINED, XNOTE_PGS_FREE };
struct xnote_page_info {
	uint64_t count_info;
	uint32_t owner;        /* pickled _domain: pdx of the struct domain, 0 none */
	bool allocated;        /* PGC_allocated */
	bool xen_heap;         /* PGC_xen_heap */
	bool broken;           /* PGC_broken */
	enum xnote_pg_state state;
};
/* Decode count_info for a layout. */
void xnote_pgc_decode(enum xnote_pgc_layout l, uint64_t count_info, struct xnote_page_info *pi);

enum xnote_frame_owner {
	XNOTE_FRAME_XEN,       /* Xen heap, Xen's own (not allocated to a domain),
				* anonymous, dom_xen or dom_io */
	XNOTE_FRAME_DOM0,
	XNOTE_FRAME_DOMU,
	XNOTE_FRAME_FREE,      /* free, offlined or broken */
	XNOTE_FRAME_UNKNOWN,   /* no readable page_info (beyond max_page, not in
				* the dump) */
};
const char *xnote_frame_owner_name(enum xnote_frame_owner o);

#define XNOTE_XEN_TLB 64
struct xnote_xen {
	xnote_read_fn read;
	void *arg;
	unsigned major, minor;
	enum xnote_pgc_layout pgc;
	uint64_t phys_start;      /* machine address of the Xen image */
	uint64_t virt_start;      /* XEN_VIRT_START: SYMBOL(domain_list) & ~(1 GiB-1) */
	uint64_t directmap;       /* DIRECTMAP_VIRT_START */
	uint64_t root;            /* machine address of idle_pg_table (pgd_l4) */
	/* VMCOREINFO_XEN (docs/formats.md §4.5); 0 when absent */
	uint64_t sym_domain_list, sym_frame_table, sym_max_page, sym_dom_xen, sym_dom_io,
		 sym_pgd_l4;
	uint64_t page_info_size, domain_size, off_count_info, off_domain, off_domain_id,
		 off_next_in_list;
	bool have_frame_table;    /* every key the ownership check needs */
	uint64_t frame_table;     /* FRAMETABLE base (value of SYMBOL(frame_table)) */
	uint64_t max_page;
	/* PDX compression: only with xen-syms (pfn_pdx_hole_shift & co); off
	 * otherwise, i.e. pdx == mfn */
	unsigned pdx_hole_shift;
	uint64_t pdx_bottom_mask, pdx_top_mask;
	uint32_t owner_xen, owner_io;   /* pickled dom_xen, dom_io (0 unknown) */
	struct { uint64_t vpage, mpage; } tlb[XNOTE_XEN_TLB];
	uint64_t pi_tag;          /* machine page cached in pi_page, ~0 none */
	uint8_t pi_page[4096];
	char err[XNOTE_ERR_MAX];
};
/* Set up from CRASH_INFO and the VMCOREINFO_XEN text.  Fails only without
 * xen_phys_start (phys_start_override 0 and not in ci) or SYMBOL(pgd_l4) and
 * SYMBOL(domain_list); ownership needs more keys (have_frame_table). */
int xnote_xen_init(struct xnote_xen *x, xnote_read_fn read, void *arg,
		   const struct xnote_crash_info *ci, uint64_t phys_start_override,
		   const char *vmcoreinfo_xen, size_t len);
/* xen-syms values (symbol table): PDX compression parameters; values read
 * from the dump at these symbols' addresses.  A zero address is skipped. */
int xnote_xen_set_pdx(struct xnote_xen *x, uint64_t sym_hole_shift, uint64_t sym_bottom_mask,
		      uint64_t sym_top_mask);
/* Xen virtual -> machine: text/data arithmetic, direct map arithmetic, else
 * a walk of Xen's page tables (machine addresses throughout). */
int xnote_xen_vtom(struct xnote_xen *x, uint64_t va, uint64_t *ma);
int xnote_xen_read(struct xnote_xen *x, uint64_t va, void *buf, size_t len);
/* A NUL-terminated string at machine address ma (at most cap-1 bytes). */
int xnote_read_string(xnote_read_fn read, void *arg, uint64_t ma, char *buf, size_t cap);
/* page_info of a machine frame. */
int xnote_xen_page_info(struct xnote_xen *x, uint64_t mfn, struct xnote_page_info *pi);
/* Who owns a machine frame (makedumpfile's Xen 4 decision, docs/formats.md §4.8,
 * with the count_info layout of this Xen).  dom0_owner: pickled dom0. */
enum xnote_frame_owner xnote_xen_frame_owner(struct xnote_xen *x, uint64_t mfn,
					     uint32_t dom0_owner, struct xnote_page_info *pi);

struct xnote_domain {
	uint16_t id;
	uint64_t va;          /* struct domain */
	uint64_t maddr;
	uint32_t owner;       /* pickled, as in page_info._domain */
};
/* Walk domain_list (bounded; a cycle is an error).  *n is the number found
 * (only cap written). */
int xnote_xen_domains(struct xnote_xen *x, struct xnote_domain *out, size_t cap, size_t *n);
/* Pickled owner of a struct domain at va (the directmap pdx of its page). */
uint32_t xnote_xen_pickle(const struct xnote_xen *x, uint64_t domain_va);

/* A domain's shared_info page (docs/formats.md §4.12).  VMCOREINFO_XEN has no
 * offset for domain.shared_info, so it is found by what it points at: the
 * first 8-aligned word in the first min(SIZE(domain), 4096) bytes of the
 * struct domain that is a page-aligned direct-map address of a Xen-heap frame
 * owned by this domain (Xen shares the page with its guest).  Then the public
 * ABI's arch_shared_info (x86_64, at XNOTE_SHINFO_ARCH): max_pfn and
 * pfn_to_mfn_frame_list_list, the top of a PV guest's P2M tree for tools.
 * Needs the frame table; XNOTE_ERR_NOTFOUND when no word qualifies. */
#define XNOTE_SHINFO_ARCH 3088     /* 32 vcpu_info of 64, 2 x 64 evtchn words, wc_* */
struct xnote_shared_info {
	uint64_t va, mfn;          /* the page */
	uint64_t max_pfn;          /* arch.max_pfn (a PV guest's pseudo-physical size) */
	uint64_t p2m_mfn;          /* arch.pfn_to_mfn_frame_list_list (0: none; ~0:
				    * the guest publishes the linear P2M instead) */
	uint64_t p2m_cr3, p2m_vaddr, p2m_generation;   /* the linear P2M (0: none) */
};
int xnote_xen_shared_info(struct xnote_xen *x, const struct xnote_domain *dom,
			  struct xnote_shared_info *out);

/* Machine-to-phys table (M2P, read-only view at XNOTE_XEN_RO_MPT): the pfn a
 * domain gave a machine frame.  XNOTE_NOPAGE when unmapped or not dumped. */
#define XNOTE_XEN_RO_MPT 0xffff800000000000ULL
int xnote_xen_m2p(struct xnote_xen *x, uint64_t mfn, uint64_t *pfn);

/* The console ring: conring (char *), conring_size (u32), conringp (u32
 * producer count) at these virtual addresses (from xen-syms).  Copies the
 * text in order, oldest first, into out; *len is its length; *wrapped tells
 * that older text was overwritten. */
struct xnote_conring_syms {
	uint64_t conring, conring_size, conringp, conringc;
};
int xnote_xen_conring(struct xnote_xen *x, const struct xnote_conring_syms *s, char *out,
		      size_t cap, size_t *len, bool *wrapped);
/* Without symbols: is this page a piece of Xen's console ring (printable
 * text, then nothing but NULs)?  0 if not, else 1 + the "(XEN) " line starts. */
unsigned xnote_conring_score(const uint8_t *page, size_t len);

/* ---- dom0 ---------------------------------------------------------------- */

/* The one x86_64 page-table walk (4 or 5 levels, 1 GiB and 2 MiB pages),
 * from the address of the top table, reading entries through read: Xen's
 * own tables and a PV dom0's (their entries hold machine frames, which Xen
 * validates), and, through vmcore, Linux's (physical frames).  clear: bits
 * cleared from every entry before use (Linux's SME mask; 0 otherwise).
 * Returns XNOTE_OK with *ma set; XNOTE_NOPAGE when va is not mapped or a
 * table is not in the dump; a negative value read returned, unchanged
 * (XNOTE_ERR_ARG for levels other than 4 and 5).  stop (optional) says
 * where a walk that failed stopped. */
struct xnote_pt_stop {
	int level;          /* level of the table read last */
	uint64_t table;     /* its address */
	bool unmapped;      /* its entry was not present (else reading it failed) */
};
int xnote_pt_walk(xnote_read_fn read, void *arg, uint64_t root, int levels, uint64_t clear,
		  uint64_t va, uint64_t *ma, struct xnote_pt_stop *stop);
/* Read len bytes at virtual address va, one 4 KiB page at a time: xlate
 * gives the address of each page, read reads from there (both get arg).  The
 * first status other than XNOTE_OK (VMC-style 0/1/negative codes pass through
 * unchanged) is returned; fail (optional) then says where and whether the
 * read or the translation failed. */
typedef int (*xnote_xlate_fn)(void *arg, uint64_t va, uint64_t *addr);
struct xnote_virt_fail {
	uint64_t va, addr;   /* addr: valid when in_read */
	bool in_read;
};
int xnote_read_virt(xnote_xlate_fn xlate, xnote_read_fn read, void *arg, uint64_t va,
		    void *buf, size_t len, struct xnote_virt_fail *fail);
/* Does this page start dom0's VMCOREINFO?  Accepts Linux's vmcoreinfo_note
 * (an ELF note "VMCOREINFO" at offset 0, text after it) and the
 * vmcoreinfo_data page (text at offset 0).  On success *text and *len give
 * the text inside page (no NUL), trimmed at the first NUL. */
bool xnote_dom0_vmcoreinfo_page(const uint8_t *page, size_t len, const char **text,
				size_t *textlen);

#endif
