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


#endif
