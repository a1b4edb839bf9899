/* kmod.h - kernel module trees as depmod writes them, shared by the crash
 * kernel's agent (capture/agent-kmod.c, which loads modules) and `salvage
 * mkinitramfs` (initramfs/modules.c, which copies them into the image).
 *
 * A leaf: libc, libzstd, zlib and (with SALVAGE_HAVE_LZMA) liblzma only.
 * Functions return 0 or a negative errno and never print; the callers word
 * the messages.
 */
#ifndef SALVAGE_INITRAMFS_KMOD_H
#define SALVAGE_INITRAMFS_KMOD_H

#include <stdbool.h>
#include <stddef.h>

#define KMOD_NAME_MAX 64                        /* normalised name, with its NUL */
#define KMOD_MAX_BYTES ((size_t)256 << 20)      /* a module file, packed or not */
#define KMOD_DEP_MAX_BYTES ((size_t)64 << 20)   /* modules.dep */
#define KMOD_BUILTIN_MAX_BYTES ((size_t)16 << 20) /* modules.builtin */
#define KMOD_MAX_DEPTH 32                       /* dependency chain */

/* ---- files and names ---- */

/* Read a whole regular file of at most max bytes into a malloc'd buffer
 * (the caller frees *data), with a NUL after the last byte so that text can
 * be parsed in place.  -EFBIG when larger than max, -EINVAL when not a
 * regular file, -EIO when it shrinks while read.  *data and *len are written
 * only on success. */
int kmod_read_file(const char *path, size_t max, void **data, size_t *len);

/* A module's name from its path or name, as the kernel spells it: the last
 * path component up to ".ko" (followed by the end or '.'), '-' turned into
 * '_', cut to len - 1 characters.  len must be at least 1. */
void kmod_name(const char *path, char *out, size_t len);

/* Does modules.builtin (text, NUL-terminated; NULL for none) list name? */
bool kmod_builtin_has(const char *text, const char *name);

/* ---- modules.dep ---- */

struct kmod_entry {
	char name[KMOD_NAME_MAX];   /* normalised */
	const char *path;           /* relative to the module directory */
	const char *deps;           /* paths separated by spaces or tabs, or "" */
	bool seen;                  /* set by kmod_table_walk */
};

/* One module per "path: deps" line of modules.dep, in file order.  The
 * table owns text; path and deps point into it.  Lines without a colon are
 * skipped; as before the two copies became one, parsing stops at the first
 * empty line (depmod writes none). */
struct kmod_softdep {
	char name[KMOD_NAME_MAX];   /* the module, normalised */
	const char *rest;           /* the rest of its line: "pre: a b post: c" */
};

struct kmod_table {
	char *text;
	struct kmod_entry *e;
	size_t n;
	/* modules.softdep, when kmod_table_load_softdep read it */
	char *sd_text;
	struct kmod_softdep *sd;
	size_t nsd;
};

/* Read DIR/modules.dep (at most KMOD_DEP_MAX_BYTES) into t.  -ENOENT when
 * there is none.  On failure t is left empty, so kmod_table_free is safe
 * either way. */
int kmod_table_load(struct kmod_table *t, const char *dir);
void kmod_table_free(struct kmod_table *t);
/* The module of a normalised name, or NULL. */
struct kmod_entry *kmod_table_find(struct kmod_table *t, const char *name);

/* Called once per module reached, after the modules it depends on. */
typedef int kmod_visit_fn(struct kmod_entry *e, void *ctx);

/* Walk e and what it needs in load order: each dependency that is in the
 * table (others are skipped) is walked first, the last listed first, as
 * modprobe loads them; then visit(e, ctx) unless visit is NULL.  A module
 * is walked once per table (seen).  A chain deeper than KMOD_MAX_DEPTH is
 * cut there with -ELOOP, and the module where it was cut is not marked
 * seen, so a shorter chain can still reach it.  Errors do not stop the
 * walk: the first one is returned. */
int kmod_table_walk(struct kmod_table *t, struct kmod_entry *e, kmod_visit_fn *visit,
		    void *ctx);

/* ---- modules.softdep and modules.alias ---- */

/* A name handed to a callback; a negative return stops the iteration and is
 * returned. */
typedef int kmod_name_fn(const char *name, void *ctx);

/* Add DIR/modules.softdep to t: "softdep MODULE pre: A B post: C" lines,
 * which depmod gathers from the modules' MODULE_SOFTDEP (ext4 and jbd2 want
 * crypto-crc32c first, with no symbol to say so).  No such file: 0 and no
 * soft dependencies.  Call after kmod_table_load. */
int kmod_table_load_softdep(struct kmod_table *t, const char *dir);
/* Call fn with each name e's soft dependencies load before it (post false)
 * or after it (post true), in the order listed.  Words before "pre:" or
 * "post:" are ignored, as modprobe ignores them.  A name may be an alias. */
int kmod_softdep_each(const struct kmod_table *t, const struct kmod_entry *e, bool post,
		      kmod_name_fn *fn, void *ctx);

/* modules.alias: "alias PATTERN MODULE" lines. */
struct kmod_aliases {
	char *text;             /* the file, each line NUL-terminated */
	size_t len;
};
/* Read DIR/modules.alias (at most KMOD_DEP_MAX_BYTES); none: 0, empty. */
int kmod_aliases_load(struct kmod_aliases *a, const char *dir);
void kmod_aliases_free(struct kmod_aliases *a);
/* Call fn with the module of every line whose pattern matches name (shell
 * wildcards, as modprobe matches them), in file order. */
int kmod_aliases_each(const struct kmod_aliases *a, const char *name, kmod_name_fn *fn,
		      void *ctx);

/* ---- compressed modules ---- */

/* Is the file name one of a compressed module (".ko." in it)? */
bool kmod_is_compressed(const char *path);
/* Can kmod_unpack decompress it (.ko.zst, .ko.gz; .ko.xz with liblzma)? */
bool kmod_can_unpack(const char *path);
/* Decompress a module read whole, choosing the codec by the file name, into
 * a malloc'd buffer (the caller frees *out; written only on success).
 * -ENOTSUP: not a codec built in; -EBADMSG: corrupt, cut short, or larger
 * than KMOD_MAX_BYTES unpacked; -ENOMEM. */
int kmod_unpack(const char *path, const void *in, size_t inlen, void **out,
		size_t *outlen);

#endif
