/* initramfs.h - shared by the initramfs/ sources: the cpio writer, module resolution.
 *
 * `salvage mkinitramfs` and `salvage arm` live in the salvage program; their
 * cross-file functions use the az_ prefix like the rest of it.  Functions
 * return 0 or a negative errno and leave a one-line reason in err; only the
 * commands print.
 */
#ifndef SALVAGE_INITRAMFS_H
#define SALVAGE_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- cpio.c: a newc archive built in memory, written sorted ---- */
enum az_cpio_codec { AZ_CPIO_NONE, AZ_CPIO_GZIP, AZ_CPIO_ZSTD };

struct az_cpio;   /* opaque */

struct az_cpio *az_cpio_create(void);
void az_cpio_destroy(struct az_cpio *c);
/* Add entries; paths are absolute inside the image ("/init").  Parent
 * directories are added as needed.  az_cpio_add_data takes ownership of data
 * (malloc'd) on success and on failure.  Adding a path twice replaces it. */
int az_cpio_add_dir(struct az_cpio *c, const char *path, mode_t mode);
int az_cpio_add_data(struct az_cpio *c, const char *path, mode_t mode, void *data,
		     size_t len);
int az_cpio_add_file(struct az_cpio *c, const char *path, mode_t mode, const char *src,
		     char *err, size_t errlen);
int az_cpio_add_node(struct az_cpio *c, const char *path, mode_t mode, unsigned major,
		     unsigned minor);
int az_cpio_add_symlink(struct az_cpio *c, const char *path, const char *target);
/* Write the archive: entries sorted by path, inode numbers in that order,
 * every mtime = mtime, owner 0:0.  Returns bytes written in *out_bytes. */
int az_cpio_write(struct az_cpio *c, int fd, enum az_cpio_codec codec, uint32_t mtime,
		  uint64_t *raw_bytes, uint64_t *out_bytes, char *err, size_t errlen);
size_t az_cpio_count(const struct az_cpio *c);

/* ---- modules.c: a kernel's module tree ---- */
struct az_modtree;   /* opaque */

/* root holds lib/modules/KVER (or usr/lib/modules/KVER) with modules.dep. */
int az_modtree_open(const char *root, const char *kver, struct az_modtree **out,
		    char *err, size_t errlen);
void az_modtree_close(struct az_modtree *t);
const char *az_modtree_dir(const struct az_modtree *t);
/* Mark a module and its dependencies for the image.  0; -ENOENT when the
 * module is neither in modules.dep nor built in; 1 when it is built in. */
int az_modtree_want(struct az_modtree *t, const char *name);
/* Add the wanted modules (decompressed to .ko) and a modules.dep for them
 * under /lib/modules/KVER.  Fills the comma separated load list (names, in
 * the order asked) and the count and bytes of module files. */
int az_modtree_stage(struct az_modtree *t, struct az_cpio *c, char *list, size_t listlen,
		     unsigned *nfiles, uint64_t *bytes, char *err, size_t errlen);
/* Does the kernel's config (ROOT/boot/config-KVER) say CONFIG_NAME=y?  -1 unknown. */
int az_modtree_config_y(const struct az_modtree *t, const char *name);

/* ---- helpers shared by the commands ---- */
/* -1: not ELF; 0: static; 1: dynamically linked (has PT_INTERP). */
int az_elf_is_dynamic(const void *data, size_t len);

#endif
