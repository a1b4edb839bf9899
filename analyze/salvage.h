/* salvage.h - the analyzer's commands: one file a command (info.c, dmesg.c,
 * sym.c, bt.c, ps.c, sys.c, xen.c, ...), written against the model (kern.h,
 * xsyms.h, the vmcore library), with the argument parsing, the open/close
 * preamble and the text-output escaping they share in args.c.  Cross-file
 * functions use the az_ prefix. */
#ifndef SALVAGE_AZ_H
#define SALVAGE_AZ_H

#include "../vmcore/vmcore.h"
#include "kern.h"
#include "json.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses shared by all commands. */
enum {
	AZ_EXIT_OK = 0,
	AZ_EXIT_FAIL = 1,   /* the dump could not be read or the answer not found */
	AZ_EXIT_USAGE = 2,
};

int az_cmd_info(int argc, char **argv);     /* info.c */
int az_cmd_dmesg(int argc, char **argv);    /* dmesg.c */
int az_cmd_bt(int argc, char **argv);       /* bt.c */
int az_cmd_ps(int argc, char **argv);       /* ps.c */
int az_cmd_sys(int argc, char **argv);      /* sys.c */
int az_cmd_sym(int argc, char **argv);      /* sym.c */
int az_cmd_mkinitramfs(int argc, char **argv);   /* mkinitramfs front-end */
int az_cmd_arm(int argc, char **argv);           /* arm front-end */
int az_cmd_xen(int argc, char **argv);           /* xen.c */
int az_cmd_mod(int argc, char **argv);           /* mod.c */
int az_cmd_triage(int argc, char **argv);        /* triage.c */
int az_cmd_archive(int argc, char **argv);       /* archive.c */
int az_cmd_keygen(int argc, char **argv);        /* keygen.c */
int az_cmd_receive(int argc, char **argv);       /* receive.c */
int az_cmd_unseal(int argc, char **argv);        /* unseal.c */
/* When path is a sealed file, print "salvage: PATH: sealed ..." and return
 * true (unseal.c). */
bool az_say_sealed(const char *path);
/* Does path start as a sealed file (unseal.c)? */
bool az_is_sealed(const char *path);
/* The plain content of the sealed file path in an anonymous memory file
 * (the caller closes it), or -1 after printing why (unseal.c). */
int az_unseal_memfd(const char *path, const char *keyfile);
/* --key FILE, accepted by every command: az_open unseals a sealed dump with
 * it (args.c). */
extern const char *az_seal_key;
int az_cmd_config(int argc, char **argv);        /* config-cmd.c */
int az_cmd_status(int argc, char **argv);        /* status.c */
int az_cmd_setup(int argc, char **argv);         /* setup.c */
/* The crashkernel= size for a kernel image and crash initramfs of these
 * sizes, rounded up to 8 MiB (status.c). */
uint64_t az_crash_need(uint64_t kernel_bytes, uint64_t initrd_bytes);

/* ---- argument parsing (args.c) --------------------------------------------- */
/* Options a command accepts besides --json and --help. */
enum {
	AZ_OPT_VMLINUX = 1,     /* --vmlinux FILE */
	AZ_OPT_XEN_SYMS = 2,    /* --xen-syms FILE */
	AZ_OPT_DOM0 = 4,        /* --dom0 */
	AZ_OPT_LOG = 8,         /* --raw, --caller, --level N */
	AZ_OPT_MOD_DIR = 16,    /* --mod-dir DIR */
};

struct az_run;
struct az_cmd {
	const char *name;       /* "sym" */
	const char *usage;      /* the --help text */
	unsigned opts;          /* AZ_OPT_* */
	int minpos, maxpos;     /* positional arguments; maxpos -1: any number */
	/* for az_run_cmd: what the kernel model must provide, and the body,
	 * which returns the exit status, or -1 when r->k.err says why */
	unsigned need;          /* AZ_NEED_* */
	int (*run)(struct az_run *r);
};

struct az_args {
	bool json, dom0, raw, caller;
	int level;              /* --level N, 7 when not given */
	const char *vmlinux, *xen_syms, *mod_dir;
	const char **pos;       /* the positional arguments (inside argv) */
	int npos;
};

/* Parse argv[1..] for command c.  Returns -1 after printing a usage error,
 * 1 when --help was printed, 0 otherwise.  Reorders argv's pointers. */
int az_parse_args(int argc, char **argv, const struct az_cmd *c, struct az_args *a);
/* az_parse_args' result as an exit status, or -1 to go on. */
int az_args_status(int rc);

/* Open path into a new dump; on failure print "salvage: PATH: message" and
 * return NULL. */
vmc_dump *az_open(const char *path);

/* vmc_errmsg(d) after vmc_xen_dom0_open failed, without the "dom0: " the
 * library may start it with (the callers say "dom0: " themselves). */
const char *az_dom0_errmsg(vmc_dump *d);

/* The preamble of the commands that read the kernel: parse the arguments,
 * open pos[0] and the kernel model with `need`.  Returns -1 to go on (r->k
 * open), else the exit status (the error printed).  With --dom0 the model
 * is dom0's, read through the Xen dump's P2M (r->xen). */
struct az_run {
	const struct az_cmd *cmd;
	struct az_args a;
	struct az_kernel k;
	/* --dom0: the Xen dump; k reads dom0's view of it (vmc_xen_dom0_open) */
	vmc_dump *xen;
};
int az_run_open(struct az_run *r, int argc, char **argv, const struct az_cmd *c,
		unsigned need);
/* The second half of az_run_open, for a command that checks its arguments
 * before the dump is opened (r->cmd and r->a set). */
int az_run_kernel(struct az_run *r, unsigned need);
/* Print "salvage CMD: DUMP: k.err" (when set), close, return AZ_EXIT_FAIL. */
int az_run_fail(struct az_run *r);
/* Close; ret, or AZ_EXIT_FAIL when standard output cannot be flushed. */
int az_run_close(struct az_run *r, int ret);
/* A whole command that reads the kernel: az_run_open, c->run, close. */
int az_run_cmd(int argc, char **argv, const struct az_cmd *c);

/* ---- text output of bytes from the dump (args.c) ----------------------------- */
/* Write the len bytes at s to f with every byte that is not printable ASCII
 * (controls, ESC, NUL, DEL, bytes >= 0x80) and the backslash written as
 * \xNN, as the kernel's /dev/kmsg does: nothing a hostile dump holds
 * reaches the terminal as a control sequence, and the escaping cannot be
 * forged.  lines: newlines and tabs pass (multi-line text such as a log).
 * --json output escapes on its own. */
void az_tput(FILE *f, const char *s, size_t len, bool lines);
/* The same into buf (always terminated, cut at a whole escape); returns buf,
 * for printf("%s") with several strings. */
const char *az_tesc(char *buf, size_t size, const char *s);

#endif
