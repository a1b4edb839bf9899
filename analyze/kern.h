/* kern.h - the analyzer's view of the crashed kernel: symbols (kallsyms from
 * the dump, or a vmlinux), struct layouts (BTF from the dump, or DWARF),
 * ORC unwind tables, tasks, unwinding: the model the commands (salvage.h)
 * are written against.  It knows nothing of argv or printing, and no model
 * file includes salvage.h or json.h.  Shared by analyze/ files only (az_
 * prefix).
 *
 * Ownership: an az_kernel owns everything it hands out; pointers stay valid
 * until az_kernel_close().  Functions return 0 on success or -1 with a
 * one-line message in k->err ("the failing thing first, lowercase"). */
#ifndef SALVAGE_AZ_KERN_H
#define SALVAGE_AZ_KERN_H

#include "../vmcore/vmcore.h"

#include <stdio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- symbols (ksym.c) --------------------------------------------------- */
struct az_sym {
	uint64_t addr;
	uint32_t name;       /* offset into az_syms.names */
	char type;           /* kallsyms / nm letter: t T d D b B r R w W A ... */
};

struct az_syms {
	struct az_sym *v;    /* sorted by address */
	size_t n;
	char *names;
	size_t names_len, names_cap;
	uint32_t *by_name;   /* indexes into v, sorted by name */
	uint64_t stext, etext;   /* kernel text bounds (_stext, _etext) */
	const char *source;  /* "kallsyms" or "vmlinux" */
};

/* Decode kallsyms from the dump (VMCOREINFO SYMBOL(kallsyms_*)). */
int az_ksyms_load(vmc_dump *d, struct az_syms *s, char *err, size_t errlen);
/* Append a symbol while building a table by hand (vmlinux .symtab). */
int az_syms_add(struct az_syms *s, const char *name, uint64_t addr, char type);
/* Sort and index after the last az_syms_add. */
int az_syms_finish(struct az_syms *s);
void az_syms_free(struct az_syms *s);
const char *az_sym_name(const struct az_syms *s, const struct az_sym *y);
/* The function (or object) holding addr: the highest symbol at or below it
 * that is not absolute/per-cpu; *size is the distance to the next symbol. */
const struct az_sym *az_syms_find(const struct az_syms *s, uint64_t addr,
				  uint64_t *off, uint64_t *size);
int az_syms_addr(const struct az_syms *s, const char *name, uint64_t *addr);
bool az_syms_is_text(const struct az_syms *s, uint64_t addr);

/* ---- struct layouts (kernel.c; btf.c: BTF, dwarf.c: DWARF) ------------------------------------- */
/* Every struct member the analyzer reads, listed once: (field id, struct,
 * member path, required).  Alternatives (e.g. __state vs state) are
 * separate entries; the users pick what is present. */
#define AZ_FIELDS(X) \
	X(TASK_TASKS, "task_struct", "tasks") \
	X(TASK_PID, "task_struct", "pid") \
	X(TASK_TGID, "task_struct", "tgid") \
	X(TASK_COMM, "task_struct", "comm") \
	X(TASK_STATE_NEW, "task_struct", "__state") \
	X(TASK_STATE_OLD, "task_struct", "state") \
	X(TASK_EXIT_STATE, "task_struct", "exit_state") \
	X(TASK_REAL_PARENT, "task_struct", "real_parent") \
	X(TASK_FLAGS, "task_struct", "flags") \
	X(TASK_STACK, "task_struct", "stack") \
	X(TASK_THREAD_SP, "task_struct", "thread.sp") \
	X(TASK_TI_CPU, "task_struct", "thread_info.cpu") \
	X(TASK_CPU, "task_struct", "cpu") \
	X(TASK_ON_CPU, "task_struct", "on_cpu") \
	X(TASK_SIGNAL, "task_struct", "signal") \
	X(TASK_THREAD_NODE, "task_struct", "thread_node") \
	X(TASK_MM, "task_struct", "mm") \
	X(SIGNAL_THREAD_HEAD, "signal_struct", "thread_head") \
	X(RQ_CURR, "rq", "curr") \
	X(RQ_IDLE, "rq", "idle") \
	X(ITF_BP, "inactive_task_frame", "bp") \
	X(ITF_RET, "inactive_task_frame", "ret_addr") \
	X(MOD_LIST, "module", "list") \
	X(MOD_NAME, "module", "name") \
	X(MOD_STATE, "module", "state") \
	X(MOD_TAINTS, "module", "taints") \
	X(MOD_KALLSYMS, "module", "kallsyms") \
	X(MOD_CORE_BASE, "module", "core_layout.base") \
	X(MOD_CORE_SIZE, "module", "core_layout.size") \
	X(MOD_CORE_TEXT, "module", "core_layout.text_size") \
	X(MOD_INIT_BASE, "module", "init_layout.base") \
	X(MOD_INIT_TEXT, "module", "init_layout.text_size") \
	X(MOD_MEM, "module", "mem") \
	X(MOD_BUILD_ID, "module", "build_id") \
	X(MOD_NOTES_ATTRS, "module", "notes_attrs") \
	X(MOD_NUM_ORCS, "module", "arch.num_orcs") \
	X(MOD_ORC_IP, "module", "arch.orc_unwind_ip") \
	X(MOD_ORC, "module", "arch.orc_unwind") \
	X(MODMEM_BASE, "module_memory", "base") \
	X(MODMEM_SIZE, "module_memory", "size") \
	X(KS_SYMTAB, "mod_kallsyms", "symtab") \
	X(KS_NUM, "mod_kallsyms", "num_symtab") \
	X(KS_STRTAB, "mod_kallsyms", "strtab") \
	X(KS_TYPETAB, "mod_kallsyms", "typetab") \
	X(NOTES_N, "module_notes_attrs", "notes") \
	X(NOTES_ATTRS, "module_notes_attrs", "attrs") \
	X(BINATTR_PRIVATE, "bin_attribute", "private") \
	X(BINATTR_SIZE, "bin_attribute", "size") \
	X(CEA_NMI_STACK, "cea_exception_stacks", "NMI_stack")

enum az_field {
#define AZ_F_ENUM(id, st, m) AZ_F_##id,
	AZ_FIELDS(AZ_F_ENUM)
#undef AZ_F_ENUM
	AZ_F_COUNT
};

struct az_layout {
	int64_t off[AZ_F_COUNT];    /* byte offset, -1 when absent */
	uint32_t size[AZ_F_COUNT];  /* member size in bytes (0 unknown) */
	uint64_t inactive_frame_size;
	uint64_t module_memory_size;   /* sizeof(struct module_memory), 6.4+; 0 absent */
	uint64_t bin_attribute_size;   /* sizeof(struct bin_attribute); 0 unknown */
	const char *source;         /* "BTF" or "DWARF" */
};

/* Member look-up callback both type sources provide: path may be dotted
 * ("thread.sp"); anonymous struct/union members are searched through. */
typedef int (*az_member_fn)(void *ctx, const char *stype, const char *path,
			    uint64_t *off, uint64_t *size);
typedef int (*az_sizeof_fn)(void *ctx, const char *stype, uint64_t *size);
void az_layout_fill(struct az_layout *l, az_member_fn member, az_sizeof_fn sz,
		    void *ctx, const char *source);
const char *az_field_name(enum az_field f);   /* "task_struct.tasks" */
/* Copy the first component of a dotted member path into part; returns the
 * rest (past the dot, "" at the end), or NULL when it does not fit. */
const char *az_path_next(const char *path, char *part, size_t size);

struct az_btf;
/* Find __start_BTF/__stop_BTF through the symbols and parse what is there. */
int az_btf_load(vmc_dump *d, const struct az_syms *s, struct az_btf **out,
		char *err, size_t errlen);
void az_btf_free(struct az_btf *b);
int az_btf_member(void *btf, const char *stype, const char *path,
		  uint64_t *off, uint64_t *size);
int az_btf_sizeof(void *btf, const char *stype, uint64_t *size);

/* ---- vmlinux with debug info (dwarf.c) ----------------------------------- */
struct az_vmlinux;
/* Open path, check it against the dump (BUILD-ID, else linux_banner) and
 * load its .symtab relocated by KERNELOFFSET into *syms. */
int az_vmlinux_open(vmc_dump *d, const char *path, struct az_vmlinux **out,
		    struct az_syms *syms, char *err, size_t errlen);
void az_vmlinux_close(struct az_vmlinux *v);
int az_dwarf_member(void *vml, const char *stype, const char *path,
		    uint64_t *off, uint64_t *size);
int az_dwarf_sizeof(void *vml, const char *stype, uint64_t *size);
/* Source position of a (run-time) address, and the functions inlined there,
 * innermost first.  Returns the number of entries written (0 when unknown). */
struct az_srcpos {
	char func[128];          /* "" for the outermost (the symbol's function) */
	char file[256];
	unsigned line;
};
int az_dwarf_where(struct az_vmlinux *v, uint64_t addr, struct az_srcpos *out,
		   int max);
/* A module's file with DWARF (a .ko, or Debian's -dbg copy of it), opened
 * only when its GNU build id equals id (the loaded module's); its
 * az_dwarf_where takes addresses in the file (section-relative). */
int az_modfile_open(const char *path, const uint8_t *id, int idlen, struct az_vmlinux **out,
		    char *err, size_t errlen);
/* st_value of function `name` in the module file's .symtab. */
int az_modfile_symval(struct az_vmlinux *v, const char *name, uint64_t *value);
/* az_dwarf_where at file address addr inside function func (its name tells
 * the sections apart: they all start at 0 in a module's file). */
int az_modfile_where(struct az_vmlinux *v, const char *func, uint64_t addr,
		     struct az_srcpos *out, int max);

/* ---- ORC tables (orc.c) --------------------------------------------------------- */
struct az_orc_entry {
	int16_t sp_offset, bp_offset;
	uint8_t sp_reg, bp_reg, type;   /* type normalised to AZ_ORC_T_* */
	bool signal;
};
enum { AZ_ORC_T_UNDEFINED, AZ_ORC_T_END, AZ_ORC_T_CALL, AZ_ORC_T_REGS,
       AZ_ORC_T_REGS_PARTIAL };
enum { AZ_ORC_REG_UNDEFINED = 0, AZ_ORC_REG_PREV_SP = 1, AZ_ORC_REG_DX = 2,
       AZ_ORC_REG_DI = 3, AZ_ORC_REG_BP = 4, AZ_ORC_REG_SP = 5,
       AZ_ORC_REG_R10 = 6, AZ_ORC_REG_R13 = 7, AZ_ORC_REG_BP_INDIRECT = 8,
       AZ_ORC_REG_SP_INDIRECT = 9 };
struct az_orc {
	uint64_t *ip;        /* absolute addresses, sorted */
	uint8_t *raw;        /* 6 bytes per entry as in the dump */
	size_t n;
	int layout;          /* 1: type:2 end:1 (<= 6.3);  2: type:3 signal:1 (6.4+) */
};
int az_orc_load(vmc_dump *d, const struct az_syms *s, struct az_orc *o,
		char *err, size_t errlen);
/* A table of n entries at ip_va (s32, each relative to itself) and orc_va
 * (a module's); layout as the kernel's (1, 2 or 3 above). */
int az_orc_read(vmc_dump *d, uint64_t ip_va, uint64_t orc_va, size_t n, int layout,
		struct az_orc *o, char *err, size_t errlen);
void az_orc_free(struct az_orc *o);
/* The entry for ip; false when no table covers it. */
bool az_orc_find(const struct az_orc *o, uint64_t ip, struct az_orc_entry *e);

struct az_kernel;

/* ---- loaded modules (modules.c) ------------------------------------------- */
/* Walked from the `modules` list with struct module's layout from BTF (or
 * DWARF): no module debug info needed.  Each module's own kallsyms
 * (mod->kallsyms) and ORC table (mod->arch) are read with it. */
enum { AZ_MOD_LIVE, AZ_MOD_COMING, AZ_MOD_GOING, AZ_MOD_UNFORMED };
struct az_module {
	char name[64];
	uint64_t addr;                 /* struct module */
	uint64_t base, size;           /* core memory (6.1: core_layout; 6.4+: mem[] text..data) */
	uint64_t text, text_size;      /* core text */
	uint64_t init_text, init_text_size;   /* init text while loading, else 0 */
	int state;                     /* AZ_MOD_*, -1 unknown */
	uint64_t taints;               /* TAINT_* bits (taint_flags letters) */
	uint8_t build_id[20];
	int build_id_len;              /* 0 when not recorded */
	struct az_syms syms;           /* its kallsyms, absolute addresses */
	struct az_orc orc;             /* its ORC entries (n 0 when none) */
	char warn[160];                /* what could not be read, "" */
	struct az_vmlinux *file;       /* its file from --mod-dir (az_source_at), or NULL */
	bool file_tried;
	char file_why[384];            /* why there is none, "" */
};
struct az_modules {
	struct az_module *v;
	size_t n;
	bool loaded;                   /* az_modules_load ran (whatever it found) */
	char why[256];                 /* why there is no list, "" when there is */
};
/* Read the module list once (later calls return what the first found).
 * -1 (k->mods.why set) when the list cannot be walked. */
int az_modules_load(struct az_kernel *k);
void az_modules_free(struct az_modules *m);
/* The module whose memory (core or init) holds addr, else NULL. */
const struct az_module *az_module_at(struct az_kernel *k, uint64_t addr);
/* The kernel's taint letters of bits (kernel/panic.c taint_flags), into buf. */
const char *az_taint_letters(uint64_t bits, char *buf, size_t len);

/* What holds an address: a kernel or a module symbol. */
struct az_where {
	const struct az_syms *tab;
	const struct az_sym *sym;      /* NULL: nothing holds it */
	uint64_t off, size;            /* size 0: unknown */
	const struct az_module *mod;   /* NULL: the kernel */
};
bool az_lookup(struct az_kernel *k, uint64_t addr, struct az_where *w);
/* Kernel or module text. */
bool az_is_text(struct az_kernel *k, uint64_t addr);
/* The ORC entry for ip, from the kernel's or its module's table. */
bool az_find_orc(struct az_kernel *k, uint64_t ip, struct az_orc_entry *e);
/* Source position of addr (as az_dwarf_where): the --vmlinux for the
 * kernel, the module's file found under k->mod_dir (NAME.ko or
 * NAME.ko.debug at any depth, '-' and '_' alike) for a module. */
int az_source_at(struct az_kernel *k, uint64_t addr, struct az_srcpos *out, int max);

/* ---- the kernel context (kernel.c) --------------------------------------- */
enum { AZ_NEED_SYMS = 1, AZ_NEED_TYPES = 2, AZ_NEED_ORC = 4 };

struct az_kernel {
	vmc_dump *d;
	struct az_syms syms;
	bool have_syms, have_types, have_orc;
	struct az_layout lay;
	struct az_btf *btf;
	struct az_vmlinux *vml;
	struct az_orc orc;
	struct az_modules mods;        /* az_modules_load; read on first need */
	const char *mod_dir;           /* --mod-dir: modules' files with DWARF, or NULL */
	uint64_t kaslr;
	char why_syms[256], why_types[256], why_orc[256];
	char err[512];
};

/* Read the kernel in open dump d (and vmlinux when not NULL); k owns d from
 * here on, even on failure.  What cannot be had is noted in why_*; the call
 * fails only when a `need` bit cannot be met, with a message in err naming
 * what is missing. */
int az_kernel_open(struct az_kernel *k, vmc_dump *d, const char *vmlinux, unsigned need);
void az_kernel_close(struct az_kernel *k);

int az_read(struct az_kernel *k, uint64_t va, void *buf, size_t len);
int az_read_u64(struct az_kernel *k, uint64_t va, uint64_t *v);
int az_read_u32(struct az_kernel *k, uint64_t va, uint32_t *v);
/* Read an unsigned integer member of `size` 1, 2, 4 or 8 bytes. */
int az_read_uint(struct az_kernel *k, uint64_t va, uint32_t size, uint64_t *v);
int az_sym(struct az_kernel *k, const char *name, uint64_t *addr);
/* Address of a per-cpu variable (kallsyms value) on cpu. */
int az_percpu(struct az_kernel *k, uint64_t sym, unsigned cpu, uint64_t *addr);
/* "name+0x1a/0x40", "name+0x5/0x10 [module]", or the hex address when no
 * symbol holds it. */
void az_symbolize(struct az_kernel *k, uint64_t addr, char *buf, size_t len);

/* ---- tasks (tasks.c) ------------------------------------------------------ */
struct az_task {
	uint64_t addr;
	int pid, tgid, ppid;
	int cpu;                 /* task's CPU field; -1 unknown */
	int active_cpu;          /* CPU it was running on at the crash, or -1 */
	char comm[17];
	char state;              /* ps letter R S D T t X Z P I, '?' unknown */
	uint64_t state_raw;
	bool kthread, idle;
};
struct az_tasks {
	struct az_task *v;
	size_t n;
	int ncpu;                /* CPUs with a run queue read */
	uint64_t curr[64];       /* rq->curr per CPU (0 unknown) */
	char warn[256];          /* first problem met while walking, "" none */
};
int az_tasks_load(struct az_kernel *k, struct az_tasks *t);
void az_tasks_free(struct az_tasks *t);
const struct az_task *az_task_by_pid(const struct az_tasks *t, int pid);
/* CPU number of NT_PRSTATUS note i (online CPUs in order), -1 unknown. */
int az_note_cpu(struct az_kernel *k, size_t i);

/* ---- unwinding (unwind.c) ------------------------------------------------- */
/* RETADDR: no unwind data for the function, but the first return address
 * above sp whose call instruction targets that function was found */
/* CALLED: the function the next frame called and that was running when the
 * dump was taken (ip is its entry: where in it is not known) */
enum az_frame_how { AZ_HOW_REGS, AZ_HOW_ORC, AZ_HOW_FP, AZ_HOW_SCAN, AZ_HOW_RETADDR,
		    AZ_HOW_CALLED };
struct az_frame {
	uint64_t ip, sp;
	enum az_frame_how how;
	bool reliable;           /* false: a stack-scan guess ('?') */
	bool has_regs;           /* an exception frame (pt_regs) ends here */
	bool user_regs;          /* ... and it is entry from user space */
	uint64_t regs_addr;
	uint64_t regs[21];       /* pt_regs order = VMC_REG_R15 .. VMC_REG_SS */
	bool partial_regs;       /* only the IRET frame is valid */
};
struct az_unwind_opts {
	uint64_t stack_lo, stack_hi;   /* bounds for the stack scan (0: guess) */
};
/* Unwind from regs (pt_regs order, 21 values).  first_is_call: the ip is a
 * return address (blocked task), not the interrupted instruction. */
int az_unwind(struct az_kernel *k, const uint64_t regs[21], bool first_is_call,
	      const struct az_unwind_opts *o, struct az_frame *out, int max,
	      char *why, size_t whylen);
/* When regs are an exception's that oops_end() passed to crash_kexec()
 * (an oops, BUG() or another trap with panic_on_oops), the whole stack:
 * machine_kexec (AZ_HOW_CALLED), __crash_kexec, ... the exception frame
 * (has_regs, equal to regs), then the faulting code and its callers.
 * When regs are __crash_kexec's own (panic() without an exception), the
 * same with machine_kexec above them.  Returns the frame count, or 0 when
 * regs are neither (then az_unwind is the answer). */
int az_unwind_crash_path(struct az_kernel *k, const uint64_t regs[21],
			 const struct az_unwind_opts *o, struct az_frame *out, int max,
			 char *why, size_t whylen);
/* For a CPU the crash NMI stopped (crash_nmi_callback saved regs, the
 * interrupted context): its NMI stack on top, crash_nmi_callback
 * (AZ_HOW_CALLED) ... end_repeat_nmi with the NMI's exception frame (equal
 * to regs), then the interrupted code and its callers.  0 when regs are not
 * such registers. */
int az_unwind_nmi_path(struct az_kernel *k, const uint64_t regs[21], int cpu,
		       const struct az_unwind_opts *o, struct az_frame *out, int max,
		       char *why, size_t whylen);
/* Registers of a task that is not running, from the inactive_task_frame
 * switch_to() left at its thread.sp, for az_unwind (first_is_call false
 * when it will return into ret_from_fork), and its stack's bounds in o
 * (0 when unknown).  -1 with k->err set when they cannot be read. */
int az_task_saved_regs(struct az_kernel *k, const struct az_task *p, uint64_t regs[21],
		       bool *first_is_call, struct az_unwind_opts *o);

/* ---- the CPUs' stacks (stacks.c) ------------------------------------------ */
#define AZ_MAX_FRAMES 96
struct az_stack {
	int cpu;                 /* -1 unknown */
	const struct az_task *task;   /* NULL when the tasks are not known */
	int pid;
	const char *regs_from;   /* "NT_PRSTATUS" or "inactive_task_frame" */
	uint64_t regs[21];
	bool first_is_call;
	uint64_t stack_lo, stack_hi;
	struct az_frame f[AZ_MAX_FRAMES];
	int nf;
	char why[256];
	bool panic;              /* a crash function (panic, __crash_kexec, oops_end...) on it */
	bool crash_path;         /* az_unwind_crash_path gave the frames */
};
/* Registers of a CPU from elsewhere than the dump's notes (a Xen dom0's
 * vCPUs: what Xen saved for them). */
struct az_regset {
	int cpu;
	const char *from;        /* said as the stack's regs_from */
	uint64_t regs[21];
};
/* One stack per CPU that saved registers, and one per extra[] register set
 * (extra non-NULL: a dom0 view, whose CPUs are those), unwound (want NULL),
 * or the one of task want (the CPU it ran on, else its saved registers).
 * tasks may be NULL.  *out is to be freed.  -1 with k->err set. */
int az_stacks_load(struct az_kernel *k, const struct az_tasks *tasks, const struct az_task *want,
		   const struct az_regset *extra, size_t nextra, struct az_stack **out, size_t *n);

/* ---- crash class and signature (crashsig.c) -------------------------------- */
/* What crashed, from the kernel log and the panic CPU's stack: the calls a
 * one-screen summary (triage) and a crash index (the archive) share. */
enum az_crash_class {
	AZ_CC_UNKNOWN, AZ_CC_SYSRQ, AZ_CC_NULL_DEREF, AZ_CC_PAGE_FAULT, AZ_CC_GPF, AZ_CC_BUG,
	AZ_CC_WARN, AZ_CC_HARD_LOCKUP, AZ_CC_SOFT_LOCKUP, AZ_CC_HUNG_TASK, AZ_CC_RCU_STALL,
	AZ_CC_OOM, AZ_CC_MCE, AZ_CC_OOPS, AZ_CC_PANIC
};
const char *az_crash_class_id(enum az_crash_class c);    /* "null-deref" */
const char *az_crash_class_text(enum az_crash_class c);  /* "NULL pointer dereference" */
enum az_crash_class az_crash_class_of(const char *id);   /* from az_crash_class_id's text */

#define AZ_CRASH_BEFORE 8
struct az_crashlog_scan {     /* az_crashlog_line's own state */
	char last[AZ_CRASH_BEFORE][256];
	int nlast, head;
	char why[256];
	enum az_crash_class why_cls;
	uint64_t why_ts;
	char why_before[AZ_CRASH_BEFORE][256];
	int why_nbefore;
	bool oopsed;
	uint64_t line_no, why_line;
};
struct az_crashlog {
	enum az_crash_class cls;
	char cause[256];          /* the log line that told the class, "" none */
	char panic[256];          /* "Kernel panic - not syncing: ..." else the oops line */
	uint64_t cause_ts_nsec;   /* log time of the cause line (uptime at the crash) */
	bool have_ts;
	char before[AZ_CRASH_BEFORE][256];   /* the log lines just before the cause, oldest first */
	int nbefore;
	struct az_crashlog_scan scan;
};
/* Classify from the kernel log of d (vmc_dmesg).  -1 when there is no log
 * (cl->cls stays unknown). */
int az_crashlog_read(vmc_dump *d, struct az_crashlog *cl);
/* The same over lines handed in one by one (log order), for other sources. */
void az_crashlog_begin(struct az_crashlog *cl);
void az_crashlog_line(struct az_crashlog *cl, const char *text, size_t len, uint64_t ts_nsec);
void az_crashlog_end(struct az_crashlog *cl);

struct az_sig_frame {
	char function[128];       /* "" when no symbol holds ip */
	char module[64];          /* "" in the kernel */
	uint64_t ip, off;
};
/* The top meaningful frames of a stack: after an exception frame (the
 * faulting code and its callers) when there is one, else past the
 * outermost reporting function (az_crash_reporting) and the crash
 * machinery (machine_kexec, panic, oops_end, die, exception entries ...);
 * guessed ('?') frames never count.  Returns the count. */
int az_crash_frames(struct az_kernel *k, const struct az_stack *s, struct az_sig_frame *out,
		    int max);
/* A function of the crash machinery (panic, oops_end, exception entry ...)
 * that az_crash_frames skips before the first meaningful frame. */
bool az_crash_machinery(const char *name);
/* A function that reports a crash (panic, oops_end, die, __warn ...): with
 * no exception frame, az_crash_frames starts past the outermost one. */
bool az_crash_reporting(const char *name);
/* The panicking CPU's stack among az_stacks_load's: the first with a crash
 * function on it, else the only one; NULL when neither. */
const struct az_stack *az_crash_stack(const struct az_stack *st, size_t n);
/* "class:f1/f2/f3" with compiler suffixes (.constprop.0, .isra.0, .cold)
 * dropped and module frames as f[mod]: stable across builds of one source. */
void az_crash_signature(enum az_crash_class c, const struct az_sig_frame *f, int n,
			char *buf, size_t len);

#endif
