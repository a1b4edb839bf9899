/* vmcore.h - read crash dumps: ELF vmcores (/proc/vmcore, QEMU), kdump-compressed
 * files (makedumpfile, QEMU), makedumpfile's flattened streams of either, and
 * Xen guest cores (xl dump-core).
 *
 * This is the only public header of the vmcore library.
 *
 * Ownership: a vmc_dump owns everything it returns; pointers and strings stay valid
 * until vmc_dump_destroy() unless a function says otherwise.  Nothing here prints.
 *
 * Errors: functions return enum vmc_status.  VMC_OK and VMC_NOPAGE are normal results;
 * negative values are failures and leave a message on the dump (vmc_errmsg), written
 * "the failing thing first, lowercase, no full stop", e.g.
 * "page descriptor 5 at 0x4000: data offset 0x9f000 beyond end of file (0x8000)".
 *
 * Threads: different vmc_dump handles may be used at the same time from
 * different threads, handles on the same file included (each has its own
 * read windows, decompression context and buffers, translation cache and
 * message); what the library sets up once per process (lzo_init, the SIGBUS
 * handler of VMC_OPEN_MMAP) is done under pthread_once.  On one handle, once
 * it is open, the calls that only report what opening found may run
 * concurrently with each other: vmc_format, vmc_is_flattened, vmc_producer,
 * vmc_compression, vmc_page_size, vmc_elf_machine, vmc_arch, vmc_incomplete,
 * vmc_kdump_* header facts, vmc_range_count/vmc_ranges, vmc_elf_load_count/
 * vmc_elf_load, vmc_max_pfn, vmc_pages_total/present, vmc_warning_count/
 * vmc_warning, the note, CPU, VMCOREINFO (vmc_vmcoreinfo_*, vmc_vmci_*),
 * vmc_xen and vmc_xen_core look-ups (vmc_xen_core_pfn_to_mfn/_mfn_to_pfn
 * included).  Every other call (vmc_page_state and vmc_page_state_run
 * included: a kdump descriptor may be read) uses the handle's read state or
 * its message, and vmc_mm_create and vmc_dmesg may add warnings: while one
 * of them runs, nothing else may run on that handle, and vmc_errmsg is read
 * by the thread that got the error.  A dom0 view and a vmc_mm read through
 * their dump: count them as the same handle.
 */
#ifndef SALVAGE_VMCORE_H
#define SALVAGE_VMCORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmc_status {
	VMC_OK = 0,
	VMC_NOPAGE = 1,        /* the page is not in this dump (filtered or a hole) */
	VMC_ERR_CORRUPT = -1,  /* the input is malformed or truncated */
	VMC_ERR_SYSTEM = -2,   /* a system call failed (errno in the message) */
	VMC_ERR_UNSUPPORTED = -3, /* valid input we do not handle (e.g. split dumps) */
	VMC_ERR_NOMEM = -4,
	VMC_ERR_NOTFOUND = -5, /* a looked-up key, note or symbol is absent */
	VMC_ERR_ARG = -6,      /* the caller passed something out of range */
};

enum vmc_format {
	VMC_FMT_UNKNOWN = 0,
	VMC_FMT_ELF,        /* ELF64 core: /proc/vmcore copy, makedumpfile -E, QEMU elf */
	VMC_FMT_KDUMP,      /* kdump-compressed ("KDUMP   ") */
	VMC_FMT_XEN_CORE,   /* Xen guest core (`xl dump-core`): ELF sections, pages
			     * by the guest's pseudo-physical frame (vmc_xen_core) */
};

/* Per-page state, independent of whether reading it would succeed. */
enum vmc_page_state {
	VMC_PAGE_HOLE = 0,     /* not RAM in the dumped machine's memory map */
	VMC_PAGE_EXCLUDED = 1, /* RAM, but filtered out of this dump */
	VMC_PAGE_PRESENT = 2,  /* stored in the dump */
	VMC_PAGE_INCOMPLETE = 3, /* should be stored but the dump was cut short */
};

/* Compression codecs; the values are the kdump flag bits. */
#define VMC_COMP_ZLIB   0x01u
#define VMC_COMP_LZO    0x02u
#define VMC_COMP_SNAPPY 0x04u
#define VMC_COMP_ZSTD   0x20u

typedef struct vmc_dump vmc_dump;

/* Creation and opening.  vmc_dump_create returns NULL only when out of memory.
 * Open a dump once per vmc_dump; on failure vmc_errmsg says why and the only
 * useful call left is vmc_dump_destroy. */
vmc_dump *vmc_dump_create(void);
void vmc_dump_destroy(vmc_dump *d);

int vmc_open_path(vmc_dump *d, const char *path);
/* VMC_OPEN_MMAP: make short reads through a few mapped 1 MiB windows instead
 * of pread, and every read when the file is /proc/vmcore (what makedumpfile
 * does there; far fewer system calls).  It
 * installs a SIGBUS handler when none is set, so that a page that cannot be
 * read is retried with pread and reported as an error, not a crash; reads
 * are then to be made from one thread at a time. */
#define VMC_OPEN_MMAP 0x1u
/* VMC_OPEN_MMAP_PROC: VMC_OPEN_MMAP for /proc/vmcore only; an ordinary file
 * is read with pread.  For handles that threads of one process read side by
 * side: their mapping and unmapping of windows contend for the address space
 * and interrupt each other to flush TLBs, which costs more than the copies. */
#define VMC_OPEN_MMAP_PROC 0x2u
/* VMC_OPEN_MACHINE_FRAMES: a Xen PV guest's core (xl dump-core) presented by
 * machine frame, for writing a dump crash(8) reads (docs/formats.md §4.9):
 * its frames are the guest's machine frames, its notes add a Xen CRASH_INFO
 * and say so (SALVAGE_P2M type 1); there are no virtual addresses (open it
 * again without the flag for those).  A dump written so is then read by its
 * own (machine) frames, untranslated.  Other dumps ignore it. */
#define VMC_OPEN_MACHINE_FRAMES 0x4u
int vmc_open_path_flags(vmc_dump *d, const char *path, unsigned flags);
/* A makedumpfile --split set: all its parts, in any order (n == 1 is
 * vmc_open_path).  The dump reads as one: each frame comes from the part
 * whose range holds it.  A missing part (frames in none), a foreign one
 * (another dump's header or bitmaps) or a file that is no part is refused
 * by name.  The facts (notes, VMCOREINFO, header) are the first path's. */
int vmc_open_paths(vmc_dump *d, const char *const *paths, size_t n);
/* fd must be seekable (pread); it is not closed by the library. */
int vmc_open_fd(vmc_dump *d, int fd);
/* buf must stay valid and unchanged while d is in use; it is not copied. */
int vmc_open_mem(vmc_dump *d, const void *buf, size_t len);

const char *vmc_errmsg(const vmc_dump *d);

/* Warnings: quirks tolerated while opening (padding in notes, odd alignment...).
 * Each is one line, lowercase, no newline. */
size_t vmc_warning_count(const vmc_dump *d);
const char *vmc_warning(const vmc_dump *d, size_t i);

/* What the file is. */
enum vmc_format vmc_format(const vmc_dump *d);
bool vmc_is_flattened(const vmc_dump *d);
/* Producer hint: "linux" (/proc/vmcore or makedumpfile), "qemu", "xen" */
const char *vmc_producer(const vmc_dump *d);
/* Codec set in the kdump header (one VMC_COMP_* bit), or 0 for uncompressed. */
unsigned vmc_compression(const vmc_dump *d);
const char *vmc_compression_name(unsigned comp); /* "zlib", ..., "none" */
/* The page size: the kdump block size, VMCOREINFO PAGESIZE, or the one the
 * machine fixes (x86_64, i386, riscv64: 4096).  When none of those tells it,
 * vmc_page_size_known is false and vmc_page_size (4096) is only the unit in
 * which pages are addressed: frame numbers then are not the machine's. */
uint32_t vmc_page_size(const vmc_dump *d);
bool vmc_page_size_known(const vmc_dump *d);
uint16_t vmc_elf_machine(const vmc_dump *d);   /* EM_* of the dump (<elf.h>: EM_X86_64) */
/* "x86_64", "aarch64", "riscv64", "ppc64le", "i386", "arm", or NULL if unknown */
const char *vmc_arch(const vmc_dump *d);
bool vmc_incomplete(const vmc_dump *d);
/* kdump header facts; return VMC_ERR_NOTFOUND for ELF dumps. */
int vmc_kdump_dump_level(const vmc_dump *d, int *level);
int vmc_kdump_header_version(const vmc_dump *d, int *version);
/* kdump utsname fields ("sysname", "nodename", "release", "version", "machine",
 * "domainname"); NULL when absent or empty. */
const char *vmc_kdump_utsname(const vmc_dump *d, const char *field);
/* kdump header timestamp (seconds); VMC_ERR_NOTFOUND if zero or not kdump. */
int vmc_kdump_timestamp(const vmc_dump *d, int64_t *secs);
int vmc_kdump_phys_base(const vmc_dump *d, uint64_t *phys_base);

/* Physical memory. */
struct vmc_range {
	uint64_t start;   /* physical address, inclusive */
	uint64_t end;     /* exclusive */
};
/* RAM ranges of the dumped machine, sorted and merged. */
size_t vmc_range_count(const vmc_dump *d);
const struct vmc_range *vmc_ranges(const vmc_dump *d);
/* ELF dumps: the PT_LOAD segments in program-header order (none for kdump). */
size_t vmc_elf_load_count(const vmc_dump *d);
int vmc_elf_load(const vmc_dump *d, size_t i, uint64_t *paddr, uint64_t *vaddr,
		 uint64_t *memsz);
/* One past the highest page frame number covered by the dump. */
uint64_t vmc_max_pfn(const vmc_dump *d);
/* Page counts: frames inside the RAM ranges, and frames stored in the dump. */
uint64_t vmc_pages_total(const vmc_dump *d);
uint64_t vmc_pages_present(const vmc_dump *d);

enum vmc_page_state vmc_page_state(const vmc_dump *d, uint64_t pfn);
/* The state of pfn and, in *run (at least 1, at most max), how many frames
 * from pfn on share it: walking a machine's frames run by run instead of
 * frame by frame. */
enum vmc_page_state vmc_page_state_run(const vmc_dump *d, uint64_t pfn, uint64_t max,
				       uint64_t *run);
/* Read one whole page into buf (vmc_page_size bytes).  VMC_OK: buf holds the
 * page; VMC_NOPAGE: not in this dump (see vmc_page_state), buf untouched;
 * negative: error.  O(log n) for every format after opening. */
int vmc_read_page(vmc_dump *d, uint64_t pfn, void *buf);
/* Read n consecutive pages starting at pfn into buf (n * page size bytes):
 * one read where the dump stores them contiguously.  Returns VMC_OK when all
 * were read; otherwise the status of the first page that failed, with *done
 * pages before it read (it may be retried page by page). */
int vmc_read_pages(vmc_dump *d, uint64_t pfn, size_t n, void *buf, size_t *done);
/* Read len bytes at a physical address, possibly across pages.  Fails with
 * VMC_NOPAGE if any page touched is not in the dump. */
int vmc_read_phys(vmc_dump *d, uint64_t paddr, void *buf, size_t len);

/* Kernel virtual addresses (x86_64 Linux), from VMCOREINFO alone: 4- and
 * 5-level paging, KASLR, SME.  VMC_NOPAGE when the address is not mapped or a
 * page (table) on the way is not in the dump; the message says which. */
int vmc_vtop(vmc_dump *d, uint64_t vaddr, uint64_t *paddr);
int vmc_read_virt(vmc_dump *d, uint64_t vaddr, void *buf, size_t len);
struct vmc_layout {
	uint64_t phys_base;
	uint64_t pgt_root;       /* physical address of the top-level page table */
	int levels;              /* 4 or 5 */
	uint64_t page_offset;    /* direct-map base; 0 when the dump does not show it */
};
int vmc_kernel_layout(vmc_dump *d, struct vmc_layout *out);

/* Page classification for filtering (makedumpfile's dump levels), from
 * VMCOREINFO alone: struct pages found through SPARSEMEM mem_section (or
 * FLATMEM mem_map), flags and page types decoded per kernel version. */
enum vmc_pclass {
	VMC_PC_KEEP = 0,        /* kernel data, page tables, slab, stacks, unknown */
	VMC_PC_CACHE,           /* page cache without PG_private (level bit 2) */
	VMC_PC_CACHE_PRIVATE,   /* page cache with PG_private (level bit 4) */
	VMC_PC_USER,            /* anonymous or hugetlbfs (level bit 8) */
	VMC_PC_FREE,            /* free in the buddy allocator, or unaccepted (bit 16) */
	VMC_PC_HWPOISON,        /* always excluded */
	VMC_PC_OFFLINE,         /* logically offline; always excluded */
	VMC_PC_NOMAP,           /* no struct page describes it: kept */
};
#define VMC_DL_ZERO 1
#define VMC_DL_CACHE 2
#define VMC_DL_CACHE_PRIVATE 4
#define VMC_DL_USER 8
#define VMC_DL_FREE 16
/* Does dump level `level` (0-31) exclude a page of class c? */
bool vmc_pclass_excluded(int level, enum vmc_pclass c);
const char *vmc_pclass_name(enum vmc_pclass c);

typedef struct vmc_mm vmc_mm;
/* Prepare classification; fails (VMC_ERR_NOTFOUND, message names the missing
 * VMCOREINFO keys) when the dump does not export enough.  The vmc_mm keeps a
 * pointer to d and must be destroyed before it. */
int vmc_mm_create(vmc_dump *d, vmc_mm **out);
void vmc_mm_destroy(vmc_mm *mm);
/* Classify frames [start, start+n) into cls[0..n-1] (enum vmc_pclass values).
 * Blocks that begin before start (buddy blocks, compound pages) are honoured.
 * Frames whose struct page cannot be read are VMC_PC_NOMAP.  Not thread-safe. */
int vmc_mm_classify(vmc_mm *mm, uint64_t start, uint64_t n, uint8_t *cls);

/* Kernel log (dmesg) from VMCOREINFO alone: the lockless printk ring buffer of
 * 5.10+ and the older variable-length log_buf.  Each record is passed to emit
 * in order; the text is not NUL-terminated and may hold newlines. */
struct vmc_logrec {
	uint64_t seq;
	uint64_t ts_nsec;
	uint32_t caller_id;      /* 0 when the kernel does not record it */
	int level;               /* 0-7, or -1 when unknown */
	int facility;            /* -1 when unknown */
	const char *text;
	size_t text_len;
};
typedef int (*vmc_log_emit)(void *arg, const struct vmc_logrec *rec);
/* Returns VMC_OK, a negative error, or the first non-zero value emit returned. */
int vmc_dmesg(vmc_dump *d, vmc_log_emit emit, void *arg);
/* Format a record as makedumpfile --dump-dmesg does ("[%5llu.%06llu] text\n"),
 * into buf; returns the length written (truncated to len-1). */
size_t vmc_logrec_format(const struct vmc_logrec *rec, char *buf, size_t len);

/* ELF notes, in file order, exactly as parsed (quirks fixed, see warnings). */
struct vmc_note {
	const char *name;        /* NUL-terminated copy */
	uint32_t type;
	const uint8_t *desc;     /* descriptor bytes (not aligned in general) */
	uint32_t descsz;         /* size after trimming NUL padding of text notes */
	uint32_t descsz_declared;/* n_descsz as found in the file */
	uint64_t offset;         /* file offset of the note header (in the note copy) */
};
size_t vmc_note_count(const vmc_dump *d);
const struct vmc_note *vmc_note(const vmc_dump *d, size_t i);
/* The raw note bytes as found in the dump (kdump: the sub-header copy). */
const uint8_t *vmc_note_bytes(const vmc_dump *d, size_t *len);
/* The notes as a writer should copy them (vmcore/notes-out.c): the parsed
 * notes re-encoded with 4-byte alignment and no padding or empty notes, in
 * bytes the caller frees with vmc_notes_out_free.  changed: they differ from
 * vmc_note_bytes().  vmcoreinfo_off: where the VMCOREINFO descriptor starts
 * in bytes (UINT64_MAX if there is none). */
struct vmc_notes_out {
	uint8_t *bytes;
	size_t len;
	bool changed;
	uint64_t vmcoreinfo_off, vmcoreinfo_len;
};
int vmc_notes_encode(vmc_dump *d, struct vmc_notes_out *out);
void vmc_notes_out_free(struct vmc_notes_out *out);

/* The header of an ELF64 little-endian core as the writers lay it out
 * (vmcore/core-hdr.c; formats.md §2.1): the ELF header, one PT_NOTE, then
 * nload PT_LOADs.  From 0xffff program headers on, e_phnum is PN_XNUM and
 * section header 0, right after the program headers, holds the count.
 * vmc_core_hdr_len: its bytes (0 when nload is too large to lay out);
 * vmc_core_hdr_put writes the ELF header and the PT_NOTE into h, which holds
 * that many bytes, zeroed; vmc_core_load_put the i-th PT_LOAD (from 0),
 * flags RWX as /proc/vmcore has them. */
struct vmc_core_hdr {
	uint16_t machine;           /* e_machine */
	uint64_t nload;             /* PT_LOADs after the PT_NOTE */
	uint64_t note_off, note_len, note_align;
};
struct vmc_core_load {
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
uint64_t vmc_core_hdr_len(uint64_t nload);
void vmc_core_hdr_put(uint8_t *h, const struct vmc_core_hdr *c);
void vmc_core_load_put(uint8_t *h, uint64_t i, const struct vmc_core_load *l);
/* One ELF note (namesz counting the NUL, 4-byte padding): its bytes, and
 * writing it at p (padding bytes left as they are), returning its end. */
size_t vmc_note_size(size_t namesz, size_t descsz);
uint8_t *vmc_note_put(uint8_t *p, const char *name, uint32_t type, const void *desc,
		      size_t descsz);

/* CPU registers from CORE/NT_PRSTATUS notes, in note order.  The layout of
 * the note is the dump's machine's (vmc_elf_machine): x86_64, aarch64,
 * riscv64, ppc64(le), i386 and 32-bit arm are decoded; for any other
 * machine `decoded` is false and no register is filled in. */
struct vmc_cpu {
	uint32_t pid;            /* pr_pid */
	bool empty;              /* all registers zero: the CPU saved no state */
	bool decoded;            /* pc, sp (and lr) hold the saved registers */
	uint64_t pc, sp;         /* program counter, stack pointer (rip/rsp,
				  * pc/sp, nip/r1); names: vmc_cpu_reg_name */
	bool has_lr;
	uint64_t lr;             /* link register (aarch64 x30, riscv ra, ppc lr, arm r14) */
	uint64_t regs[27];       /* x86_64 only: user_regs_struct order, see VMC_REG_* */
	/* Xen CRASH_REGS of the same physical CPU, when present */
	bool has_cr;
	uint64_t cr0, cr2, cr3, cr4;
};
enum {
	VMC_REG_R15, VMC_REG_R14, VMC_REG_R13, VMC_REG_R12, VMC_REG_RBP, VMC_REG_RBX,
	VMC_REG_R11, VMC_REG_R10, VMC_REG_R9, VMC_REG_R8, VMC_REG_RAX, VMC_REG_RCX,
	VMC_REG_RDX, VMC_REG_RSI, VMC_REG_RDI, VMC_REG_ORIG_RAX, VMC_REG_RIP,
	VMC_REG_CS, VMC_REG_EFLAGS, VMC_REG_RSP, VMC_REG_SS, VMC_REG_FS_BASE,
	VMC_REG_GS_BASE, VMC_REG_DS, VMC_REG_ES, VMC_REG_FS, VMC_REG_GS,
	VMC_NREGS
};
size_t vmc_cpu_count(const vmc_dump *d);
const struct vmc_cpu *vmc_cpu(const vmc_dump *d, size_t i);
/* The name a user of the dump's architecture expects for VMC_CPU_PC, _SP or
 * _LR ("rip", "pc", "nip", "r1", "lr", "ra"...); NULL when the machine is not
 * decoded or has no such register. */
enum { VMC_CPU_PC, VMC_CPU_SP, VMC_CPU_LR };
const char *vmc_cpu_reg_name(const vmc_dump *d, int reg);
/* Index of the CPU that crashed when it can be told from the dump alone
 * (one CPU saved state); -1 when it cannot. */
int vmc_panic_cpu(const vmc_dump *d);

/* VMCOREINFO (the Linux kernel's note; for Xen dumps, see vmc_xen_vmcoreinfo). */
const char *vmc_vmcoreinfo_text(const vmc_dump *d, size_t *len);
/* Look up "KEY" exactly as written left of '=' (e.g. "SYMBOL(init_uts_ns)",
 * "OSRELEASE"); returns the value string or NULL. */
const char *vmc_vmcoreinfo_get(const vmc_dump *d, const char *key);
/* Typed look-ups by bare name: vmc_vmci_symbol(d, "init_uts_ns", &v) reads
 * SYMBOL(init_uts_ns) as hex; size/offset/length/number read decimal with a
 * hexadecimal "0x" form accepted; number may be negative. */
int vmc_vmci_symbol(const vmc_dump *d, const char *name, uint64_t *val);
int vmc_vmci_size(const vmc_dump *d, const char *name, uint64_t *val);
int vmc_vmci_offset(const vmc_dump *d, const char *name, uint64_t *val);
int vmc_vmci_length(const vmc_dump *d, const char *name, uint64_t *val);
int vmc_vmci_number(const vmc_dump *d, const char *name, int64_t *val);
/* Plain keys: OSRELEASE, PAGESIZE, CRASHTIME, KERNELOFFSET (hex), BUILD-ID. */
int vmc_vmci_crashtime(const vmc_dump *d, int64_t *secs);
int vmc_vmci_kerneloffset(const vmc_dump *d, uint64_t *off);

/* Generic key/value access shared with Xen's VMCOREINFO_XEN. */
struct vmc_kv {
	const char *key;
	const char *value;
};
size_t vmc_vmcoreinfo_count(const vmc_dump *d);
const struct vmc_kv *vmc_vmcoreinfo_entry(const vmc_dump *d, size_t i);

/* Xen: present when the dump has a Xen CRASH_INFO note. */
struct vmc_xen {
	uint64_t major, minor;
	uint64_t extra_version_addr, changeset_addr, compiler_addr,
		 compile_date_addr, compile_time_addr;
	uint64_t tainted;
	bool has_phys_start;
	uint64_t phys_start;
	bool has_p2m;
	uint64_t p2m_mfn;       /* dom0 pfn_to_mfn_frame_list_list MFN */
	uint32_t layout_size;   /* CRASH_INFO descsz: 64, 72, 80 (or other) */
	char extra_version[64]; /* read from dump memory; "" if unreadable */
	size_t pcpus;           /* physical CPUs with a CORE note */
};
const struct vmc_xen *vmc_xen(const vmc_dump *d);
const char *vmc_xen_vmcoreinfo_text(const vmc_dump *d, size_t *len);
const char *vmc_xen_vmcoreinfo_get(const vmc_dump *d, const char *key);

/* ==== Xen (vmcore/xen.c) =====================================================
 * A Xen dump is indexed by machine frames and holds the hypervisor, dom0 and
 * every domU.  These helpers connect the dump to the xen-notes library
 * (xen-notes/xnote.h) and give dom0's pseudo-physical memory a dump of its
 * own, so that everything above (VMCOREINFO look-ups, vtop, dmesg, page
 * classification) works on dom0 unchanged. */
struct xnote_xen;
struct xnote_fixes;

/* An xnote_read_fn over the dump's machine memory; arg is the vmc_dump. */
int vmc_xen_read_machine(void *dump, uint64_t maddr, void *buf, size_t len);
/* xen_phys_start: from CRASH_INFO, else derived by walking SYMBOL(pgd_l4)
 * through a physical CPU's CR3 (*derived tells which).  VMC_ERR_NOTFOUND
 * when neither works. */
int vmc_xen_phys_start(vmc_dump *d, uint64_t *phys_start, bool *derived);
/* Set up a hypervisor context (caller's storage) for this dump. */
int vmc_xen_hv_init(vmc_dump *d, struct xnote_xen *x);

/* dom0's memory as a dump of its own ("view").  Pseudo-physical page n of the
 * view is the machine frame dom0's P2M gives it; PT_LOADs cover dom0's RAM
 * (excluded where the machine frame is not in the dump); its VMCOREINFO is
 * dom0's, found in this order: a VMCOREINFO_DOM0 note (dumps salvage wrote),
 * a VMCOREINFO note (kexec-tools before 2.0.4 wrote dom0's), a scan of dom0's
 * memory for Linux's vmcoreinfo note or data page.  Reads of dom0's
 * page-table pages are returned with machine frames turned into dom0 frames
 * (Xen's M2P, checked against the P2M), so vtop walks them as on bare metal.
 * The view keeps a pointer to d: destroy it (vmc_dump_destroy) first. */
struct vmc_dom0_opts {
	bool no_scan;               /* notes only: never scan dom0's memory */
	uint64_t vmcoreinfo_maddr;  /* where to look first (0: nowhere) */
	/* A PV domU instead of dom0 (the same view, `salvage xen extract`): its
	 * P2M tree's top frame (its shared_info's pfn_to_mfn_frame_list_list,
	 * xnote_xen_shared_info) and its id; the dump's notes, which are dom0's
	 * and Xen's, are not used; its VMCOREINFO is looked for in its memory. */
	bool guest;
	uint64_t p2m_mfn;
	unsigned domid;
	/* or, p2m_mfn 0, its linear P2M (shared_info's p2m_cr3, p2m_vaddr,
	 * max_pfn: xnote_p2m_init_linear) */
	uint64_t p2m_cr3, p2m_vaddr, max_pfn;
};
struct vmc_dom0_info {
	uint64_t end_pfn;           /* one past dom0's last mapped pfn */
	uint64_t pages_valid, pages_identity, pages_foreign, pages_invalid, pages_missing;
	uint64_t pages_present;     /* valid pages whose machine frame is in the dump */
	uint64_t p2m_mfn;
	bool p2m_linear;            /* a domU's linear P2M (p2m_mfn 0) */
	const char *vmcoreinfo_from;/* "note VMCOREINFO_DOM0", "note VMCOREINFO",
				     * "memory scan", or NULL when none was found */
	uint64_t vmcoreinfo_maddr;  /* machine address of the text (0 if from a note) */
	uint64_t page_offset;       /* dom0's direct-map base, 0 if not found */
	uint64_t pt_pages;          /* page-table pages whose entries are translated */
	bool m2p;                   /* Xen's M2P table readable */
};
int vmc_xen_dom0_open(vmc_dump *d, const struct vmc_dom0_opts *o, vmc_dump **view);
/* Facts about a view (NULL if v is not a dom0 view). */
const struct vmc_dom0_info *vmc_xen_dom0_info(const vmc_dump *v);
/* dom0 pfn -> machine frame through the view's P2M: VMC_NOPAGE for pfns
 * without RAM behind them. */
int vmc_xen_dom0_pfn_to_mfn(vmc_dump *v, uint64_t pfn, uint64_t *mfn);
/* machine frame -> dom0 pfn (M2P checked against the P2M); VMC_NOPAGE when
 * the frame is not dom0's or the M2P is not readable. */
int vmc_xen_dom0_mfn_to_pfn(vmc_dump *v, uint64_t mfn, uint64_t *pfn);
/* dom0's VMCOREINFO text as the view found it (NULL if none). */
const char *vmc_xen_dom0_vmcoreinfo(const vmc_dump *v, size_t *len);

/* Replace d's notes with the normalised ones (xnote_normalize: quirks of
 * docs/formats.md §4.6 fixed, xen_phys_start derived into old CRASH_INFO layouts,
 * dom0's VMCOREINFO added when dom0_vmcoreinfo is given, a SALVAGE_XEN note
 * listing the fixes).  Writers that copy vmc_note_bytes() then write them.
 * fx (optional) receives the fixes. */
int vmc_xen_normalize_notes(vmc_dump *d, const char *dom0_vmcoreinfo, size_t len,
			    uint64_t maddr, struct xnote_fixes *fx);

/* ==== Xen guest cores (vmcore/xen-core*.c) ===================================
 * `xl dump-core` files (docs/formats.md §4.9): an ELF file described by
 * sections, the guest's pages with a (pfn, gmfn) table (PV) or a pfn list
 * (HVM).  The dump reads by the guest's pseudo-physical frame; the reader
 * finds the guest's VMCOREINFO by scanning its memory (as for dom0) and turns
 * each saved vcpu_guest_context into a CORE/NT_PRSTATUS note, so every Linux
 * answer and every writer works on it unchanged.  A PV guest's page tables
 * hold machine frames: virtual addresses are walked in machine frames and
 * turned back into pfns through the table (vmc_vtop does it). */
struct vmc_xen_vcpu {
	uint64_t flags;             /* VGCF_* (bit 2: in kernel, bit 5: online) */
	uint64_t rip, rsp, rflags;
	uint16_t cs, ss;
	uint64_t cr0, cr2, cr3, cr4;/* ctrlreg[]; a PV guest's cr3 is machine */
	bool cr3_pfn_known;
	uint64_t cr3_pfn;           /* cr3's frame as the guest's pfn */
	uint64_t kernel_sp, fs_base, gs_base_kernel, gs_base_user;
};
struct vmc_xen_core {
	bool hvm;                   /* .xen_pfn (auto-translated guest) */
	uint64_t magic;             /* 0xf00febed PV, 0xf00febee HVM */
	uint64_t header_vcpus, header_pages, header_page_size;
	uint64_t xen_major, xen_minor;   /* ~0 when there is no version note */
	char xen_extra[17];         /* XENVER_extraversion */
	char capabilities[80];      /* start of XENVER_capabilities */
	uint64_t format_version;    /* 1 today; ~0 when the note is absent */
	bool has_shared_info;
	size_t nvcpus;              /* contexts decoded from .xen_prstatus */
	const struct vmc_xen_vcpu *vcpus;
	uint64_t entries;           /* entries of .xen_p2m / .xen_pfn read */
	uint64_t pages;             /* distinct pfns with a page in .xen_pages */
	uint64_t padding;           /* entries marked invalid (~0): no page */
	uint64_t dropped;           /* entries refused (duplicate, out of range,
				     * past .xen_pages): the warnings say why */
	uint64_t machineless;       /* PV: pages whose machine frame is beyond
				     * 2^40: by pfn only, not in the machine view */
	const char *vmcoreinfo_from;/* "memory scan" or NULL (not found) */
	uint64_t vmcoreinfo_pfn;
};
const struct vmc_xen_core *vmc_xen_core(const vmc_dump *d);
/* PV: guest pfn <-> machine frame through the dump's table.  VMC_NOPAGE when
 * the table has no such entry (HVM: always, there is no machine view). */
int vmc_xen_core_pfn_to_mfn(const vmc_dump *d, uint64_t pfn, uint64_t *mfn);
int vmc_xen_core_mfn_to_pfn(const vmc_dump *d, uint64_t mfn, uint64_t *pfn);
/* A PV core, or a dump written from one by machine frame, opened with
 * VMC_OPEN_MACHINE_FRAMES: its frames are MFNs. */
bool vmc_machine_frames(const vmc_dump *d);
/* A dump written from a PV core by machine frame, read by pfn (opened
 * without VMC_OPEN_MACHINE_FRAMES). */
bool vmc_pv_by_machine(const vmc_dump *d);
/* PV core: the machine frames of the pages of the guest's P2M tree (from
 * shared_info's frame list list), sorted; VMC_ERR_NOTFOUND when none. */
int vmc_xen_core_p2m_frames(const vmc_dump *d, const uint64_t **mfns, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
