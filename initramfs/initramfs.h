/* initramfs.h - the library that builds the crash kernel's initramfs: the
 * cpio writer, module selection, the agent's configuration file, the output
 * file, and reading an image back (`salvage mkinitramfs --check-config`).
 *
 * Used by analyze/mkinitramfs.c (the command); depends on kmod/ and config/
 * only.  Functions return 0 or a negative errno and leave a one-line reason
 * in err; only the commands print.
 */
#ifndef SALVAGE_INITRAMFS_H
#define SALVAGE_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cfg;
struct strbuf;

/* ---- cpio.c: a newc archive built in memory, written sorted ---- */
enum irfs_cpio_codec { IRFS_CPIO_NONE, IRFS_CPIO_GZIP, IRFS_CPIO_ZSTD };

struct irfs_cpio;   /* opaque */

struct irfs_cpio *irfs_cpio_create(void);
void irfs_cpio_destroy(struct irfs_cpio *c);
/* Add entries; paths are absolute inside the image ("/init").  Parent
 * directories are added as needed.  irfs_cpio_add_data takes ownership of data
 * (malloc'd) on success and on failure.  Adding a path twice replaces it. */
int irfs_cpio_add_dir(struct irfs_cpio *c, const char *path, mode_t mode);
int irfs_cpio_add_data(struct irfs_cpio *c, const char *path, mode_t mode, void *data,
		     size_t len);
/* Read a whole file of at most max bytes (malloc'd); on failure "SRC: reason"
 * in err. */
int irfs_read_file(const char *src, size_t max, void **data, size_t *len, char *err,
		   size_t errlen);
int irfs_cpio_add_file(struct irfs_cpio *c, const char *path, mode_t mode, const char *src,
		     char *err, size_t errlen);
int irfs_cpio_add_node(struct irfs_cpio *c, const char *path, mode_t mode, unsigned major,
		     unsigned minor);
int irfs_cpio_add_symlink(struct irfs_cpio *c, const char *path, const char *target);
/* Write the archive: entries sorted by path, inode numbers in that order,
 * every mtime = mtime, owner 0:0.  Returns bytes written in *out_bytes. */
int irfs_cpio_write(struct irfs_cpio *c, int fd, enum irfs_cpio_codec codec, uint32_t mtime,
		  uint64_t *raw_bytes, uint64_t *out_bytes, char *err, size_t errlen);
size_t irfs_cpio_count(const struct irfs_cpio *c);

/* ---- modules.c: a kernel's module tree ---- */
struct irfs_modtree;   /* opaque */

/* root holds lib/modules/KVER (or usr/lib/modules/KVER) with modules.dep. */
int irfs_modtree_open(const char *root, const char *kver, struct irfs_modtree **out,
		    char *err, size_t errlen);
void irfs_modtree_close(struct irfs_modtree *t);
const char *irfs_modtree_dir(const struct irfs_modtree *t);
/* Mark a module and its dependencies for the image.  0; -ENOENT when the
 * module is neither in modules.dep nor built in; 1 when it is built in. */
int irfs_modtree_want(struct irfs_modtree *t, const char *name);
/* Add the wanted modules (decompressed to .ko) and a modules.dep for them
 * under /lib/modules/KVER.  Fills the comma separated load list (names, in
 * the order asked) and the count and bytes of module files. */
int irfs_modtree_stage(struct irfs_modtree *t, struct irfs_cpio *c, char *list, size_t listlen,
		     unsigned *nfiles, uint64_t *bytes, char *err, size_t errlen);
/* Does the kernel's config (ROOT/boot/config-KVER) say CONFIG_NAME=y?  -1 unknown. */
int irfs_modtree_config_y(const struct irfs_modtree *t, const char *name);

/* ---- helpers shared by the commands ---- */
/* -1: not ELF; 0: static; 1: dynamically linked (has PT_INTERP). */
int irfs_elf_is_dynamic(const void *data, size_t len);

/* ---- image.c: the rest of an image ---- */
/* Add a static program (the agent, a shell) read from src as path; what
 * names it in the message ("the agent").  -ENOEXEC when it is dynamically
 * linked or not an x86_64 ELF program. */
int irfs_add_static(struct irfs_cpio *c, const char *path, const char *src, const char *what,
		    char *err, size_t errlen);
/* irfs_modtree_want for each name of a comma or space separated list.
 * Built-in names are appended to builtin; names not in the tree to absent,
 * unless required: then the first is the error (-ENOENT). */
int irfs_want_list(struct irfs_modtree *t, const char *list, bool required,
		   struct strbuf *builtin, struct strbuf *absent, char *err, size_t errlen);
/* The names of a comma separated load list that are not in fs (file system
 * modules, which load on demand), comma separated, into out. */
int irfs_storage_list(const char *list, const char *fs, struct strbuf *out);
/* The text of /etc/salvage.conf: the keys whose write[] (indexed as
 * cfg_keys) is true, with c's values, quoted where needed. */
int irfs_config_text(const struct cfg *c, const bool *write, struct strbuf *out);
/* Write the archive as out: through a temporary file created exclusively
 * in out's directory, renamed over out only when out is absent or a regular
 * file (never a device, fifo, directory or symlink: -EEXIST). */
int irfs_write_image(struct irfs_cpio *c, const char *out, enum irfs_cpio_codec codec,
		     uint32_t mtime, uint64_t *raw, uint64_t *size, char *err, size_t errlen);
/* Read the file name ("etc/salvage.conf") out of an image that
 * irfs_write_image wrote (zstd, gzip or uncompressed newc) into a malloc'd
 * NUL-terminated buffer (the caller frees *data). */
int irfs_image_read(const char *image, const char *name, char **data, size_t *len, char *err,
		    size_t errlen);

#endif
