/* salvage.h - the analyzer's commands (cross-file functions use the az_ prefix). */
#ifndef SALVAGE_AZ_H
#define SALVAGE_AZ_H

#include "../vmcore/vmcore.h"
#include <stdio.h>

/* Exit statuses shared by all commands. */
enum {
	AZ_EXIT_OK = 0,
	AZ_EXIT_FAIL = 1,   /* the dump could not be read or the answer not found */
	AZ_EXIT_USAGE = 2,
};

/* Open path into a new dump; on failure print "salvage: PATH: message" and
 * return NULL. */
vmc_dump *az_open(const char *path);

int az_cmd_info(int argc, char **argv);
int az_cmd_dmesg(int argc, char **argv);
int az_cmd_bt(int argc, char **argv);       /* bt.c */
int az_cmd_ps(int argc, char **argv);       /* tasks.c */
int az_cmd_sys(int argc, char **argv);      /* sys.c */
int az_cmd_sym(int argc, char **argv);      /* ksym.c */
int az_cmd_mkinitramfs(int argc, char **argv);   /* initramfs/mkinitramfs.c */
int az_cmd_arm(int argc, char **argv);           /* initramfs/arm.c */
int az_cmd_xen(int argc, char **argv);           /* xen.c */

/* xen-syms.c: the symbol table of a xen-syms file (no DWARF needed). */
struct az_xsyms;
/* Load path; on failure fill err and return -1. */
int az_xsyms_load(const char *path, struct az_xsyms **out, char *err, size_t errlen);
void az_xsyms_free(struct az_xsyms *s);
/* Address of name, or of a function-static "name.N"; false if absent. */
bool az_xsyms_find(const struct az_xsyms *s, const char *name, uint64_t *addr);
/* The GNU build id and the address of its bytes in Xen's memory. */
const uint8_t *az_xsyms_build_id(const struct az_xsyms *s, size_t *len, uint64_t *va);

#endif
