/* modules.c - pick kernel modules out of a module tree (an installed
 * /lib/modules/KVER or an unpacked kernel package) through modules.dep, as
 * depmod wrote it; built-in modules come from modules.builtin.
 *
 * Soft dependencies (modules.softdep, names or aliases resolved through
 * modules.alias) come along as modprobe would load them: ext4 on Debian's
 * -amd64 kernel mounts only once crc32c_generic or crc32c_intel is in.  The
 * image gets a modules.softdep of its own, with the aliases resolved to the
 * modules it holds, which the agent follows when it loads.
 *
 * Modules go into the image decompressed (.ko), so the agent never needs the
 * kernel to decompress: zstd and gzip through the libraries linked anyway, xz
 * through liblzma when built with SALVAGE_HAVE_LZMA.  Without it an .ko.xz is
 * kept as is if the kernel's config has CONFIG_MODULE_DECOMPRESS=y (the agent
 * then passes MODULE_INIT_COMPRESSED_FILE), and refused otherwise: better a
 * clear error now than a module that cannot load after a crash.
 */
#include "initramfs.h"
#include "../kmod/kmod.h"
#include "../config/strbuf.h"
#include "../common/le.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct irfs_modtree {
	char root[PATH_MAX];
	char kver[128];
	char dir[PATH_MAX];
	char *builtin_text;
	struct kmod_table tab;     /* seen: in the image */
	struct kmod_aliases aliases;
	struct kmod_entry **asked; /* the load list: in the order asked, once each */
	size_t nasked;
};

const char *irfs_modtree_dir(const struct irfs_modtree *t)
{
	return t->dir;
}

int irfs_modtree_open(const char *root, const char *kver, struct irfs_modtree **out,
		    char *err, size_t errlen)
{
	struct irfs_modtree *t = calloc(1, sizeof(*t));
	char path[PATH_MAX + 32];
	struct stat st;
	size_t len;
	void *data;
	int rc;

	if (!t)
		return -ENOMEM;
	snprintf(t->root, sizeof(t->root), "%s", root);
	snprintf(t->kver, sizeof(t->kver), "%s", kver);
	snprintf(t->dir, sizeof(t->dir), "%s/lib/modules/%s", root, kver);
	if (stat(t->dir, &st) < 0)
		snprintf(t->dir, sizeof(t->dir), "%s/usr/lib/modules/%s", root, kver);
	rc = kmod_table_load(&t->tab, t->dir);
	if (rc < 0) {
		snprintf(err, errlen, "%s/lib/modules/%s/modules.dep: %s%s", root, kver,
			 strerror(-rc), rc == -ENOENT ? " (run depmod -b ROOT KVER)" : "");
		free(t);
		return rc;
	}
	rc = kmod_table_load_softdep(&t->tab, t->dir);
	if (rc == 0)
		rc = kmod_aliases_load(&t->aliases, t->dir);
	if (rc < 0) {
		snprintf(err, errlen, "%s/modules.softdep or modules.alias: %s", t->dir,
			 strerror(-rc));
		irfs_modtree_close(t);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/modules.builtin", t->dir);
	if (kmod_read_file(path, KMOD_BUILTIN_MAX_BYTES, &data, &len) == 0)
		t->builtin_text = data;
	t->asked = calloc(t->tab.n ? t->tab.n : 1, sizeof(*t->asked));
	if (!t->asked) {
		snprintf(err, errlen, "%s: %s", t->dir, strerror(ENOMEM));
		irfs_modtree_close(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void irfs_modtree_close(struct irfs_modtree *t)
{
	if (!t)
		return;
	kmod_table_free(&t->tab);
	kmod_aliases_free(&t->aliases);
	free(t->builtin_text);
	free(t->asked);
	free(t);
}

/* Each module a soft dependency's name stands for: the module of that name,
 * else every module an alias of that name leads to. */
struct soft_ctx {
	struct irfs_modtree *t;
	kmod_name_fn *fn;
	void *ctx;
};

static int soft_alias_module(const char *mod, void *arg)
{
	struct soft_ctx *s = arg;
	char nm[KMOD_NAME_MAX];

	kmod_name(mod, nm, sizeof(nm));
	return kmod_table_find(&s->t->tab, nm) ? s->fn(nm, s->ctx) : 0;
}

static int soft_name(const char *name, void *arg)
{
	struct soft_ctx *s = arg;
	char nm[KMOD_NAME_MAX];

	kmod_name(name, nm, sizeof(nm));
	if (kmod_table_find(&s->t->tab, nm))
		return s->fn(nm, s->ctx);
	return kmod_aliases_each(&s->t->aliases, name, soft_alias_module, s);
}

/* fn(module name) for each module e's soft dependencies stand for. */
static int soft_modules(struct irfs_modtree *t, struct kmod_entry *e, bool post,
			kmod_name_fn *fn, void *ctx)
{
	struct soft_ctx s = { t, fn, ctx };
	return kmod_softdep_each(&t->tab, e, post, soft_name, &s);
}

static int want_visit(struct kmod_entry *e, void *arg);

static int want_soft(const char *name, void *arg)
{
	struct irfs_modtree *t = arg;
	/* a walk that goes too deep leaves the rest of its chain out, as below */
	(void)kmod_table_walk(&t->tab, kmod_table_find(&t->tab, name), want_visit, t);
	return 0;
}

/* Every module walked into the image brings its soft dependencies. */
static int want_visit(struct kmod_entry *e, void *arg)
{
	struct irfs_modtree *t = arg;

	soft_modules(t, e, false, want_soft, t);
	soft_modules(t, e, true, want_soft, t);
	return 0;
}

int irfs_modtree_want(struct irfs_modtree *t, const char *name)
{
	char nm[KMOD_NAME_MAX];
	struct kmod_entry *m;
	size_t i;

	kmod_name(name, nm, sizeof(nm));
	m = kmod_table_find(&t->tab, nm);
	if (!m)
		return kmod_builtin_has(t->builtin_text, nm) ? 1 : -ENOENT;
	/* marks m, its dependencies and soft dependencies seen; the only
	 * possible error, a chain deeper than KMOD_MAX_DEPTH, leaves the rest of
	 * the chain out */
	(void)kmod_table_walk(&t->tab, m, want_visit, t);
	for (i = 0; i < t->nasked && t->asked[i] != m; i++)
		;
	if (i == t->nasked)
		t->asked[t->nasked++] = m;
	return 0;
}

int irfs_modtree_config_y(const struct irfs_modtree *t, const char *name)
{
	char path[PATH_MAX * 2], want[128];
	void *data;
	size_t len;
	int yes = 0;

	snprintf(path, sizeof(path), "%s/boot/config-%s", t->root, t->kver);
	if (kmod_read_file(path, (size_t)16 << 20, &data, &len) < 0)
		return -1;
	snprintf(want, sizeof(want), "\n%s=y\n", name);
	yes = strstr(data, want) != NULL;
	free(data);
	return yes;
}

struct soft_line {
	struct irfs_modtree *t;
	struct strbuf *x;
	const char *mod;        /* the module the line is for */
	const char *mark;       /* "pre:" or "post:", written before the first name */
	bool started;
};

static int soft_line_add(const char *name, void *arg)
{
	struct soft_line *l = arg;
	struct kmod_entry *d = kmod_table_find(&l->t->tab, name);

	if (!d || !d->seen)
		return 0;   /* built in, or not in this tree */
	if (!l->started)
		strbuf_printf(l->x, "softdep %s", l->mod);
	l->started = true;
	if (l->mark) {
		strbuf_printf(l->x, " %s", l->mark);
		l->mark = NULL;
	}
	strbuf_printf(l->x, " %s", name);
	return 0;
}

/* The image's modules.softdep: for each module in it, the modules in it its
 * soft dependencies stand for, aliases resolved. */
static int soft_text(struct irfs_modtree *t, struct strbuf *x)
{
	for (size_t i = 0; i < t->tab.n; i++) {
		struct kmod_entry *m = &t->tab.e[i];
		struct soft_line l = { t, x, m->name, "pre:", false };

		if (!m->seen)
			continue;
		soft_modules(t, m, false, soft_line_add, &l);
		l.mark = "post:";
		soft_modules(t, m, true, soft_line_add, &l);
		if (l.started)
			strbuf_puts(x, "\n");
	}
	if (!x->s)
		strbuf_add(x, "", 0);   /* an empty file, not NULL */
	return x->failed ? -ENOMEM : 0;
}

/* The path a module gets in the image: .ko when it is decompressed here. */
static void image_rel(const char *rel, char *out, size_t len)
{
	const char *ko = strstr(rel, ".ko");

	if (!ko || !kmod_is_compressed(rel) || !kmod_can_unpack(rel))
		snprintf(out, len, "%s", rel);
	else
		snprintf(out, len, "%.*s.ko", (int)(ko - rel), rel);
}

int irfs_modtree_stage(struct irfs_modtree *t, struct irfs_cpio *c, char *list, size_t listlen,
		     unsigned *nfiles, uint64_t *bytes, char *err, size_t errlen)
{
	char *dep = NULL;
	size_t deplen = 0, depcap = 0;
	bool kernel_unpacks = irfs_modtree_config_y(t, "CONFIG_MODULE_DECOMPRESS") == 1;
	int rc = 0;

	*nfiles = 0;
	*bytes = 0;
	list[0] = 0;
	for (size_t i = 0; i < t->tab.n && rc == 0; i++) {
		const struct kmod_entry *m = &t->tab.e[i];
		char src[PATH_MAX * 2], rel[PATH_MAX], dst[PATH_MAX + 160], line[8192];
		void *data, *ko;
		size_t len, kolen;
		bool keep = !kmod_is_compressed(m->path) || !kmod_can_unpack(m->path);
		char *copy, *p, *save = NULL;
		int n;

		if (!m->seen)
			continue;
		snprintf(src, sizeof(src), "%s/%s", t->dir, m->path);
		rc = kmod_read_file(src, KMOD_MAX_BYTES, &data, &len);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", src, strerror(-rc));
			break;
		}
		if (keep && kmod_is_compressed(m->path) && !kernel_unpacks) {
			rc = -ENOTSUP;
			snprintf(err, errlen, "%s: this salvage cannot decompress it and the "
				 "kernel's config lacks CONFIG_MODULE_DECOMPRESS=y", src);
			free(data);
			break;
		}
		if (!keep) {
			rc = kmod_unpack(m->path, data, len, &ko, &kolen);
			if (rc < 0) {
				snprintf(err, errlen, "%s: cannot decompress", src);
				free(data);
				break;
			} else {
				free(data);
				data = ko;
				len = kolen;
			}
		}
		image_rel(m->path, rel, sizeof(rel));
		snprintf(dst, sizeof(dst), "/lib/modules/%s/%s", t->kver, rel);
		*bytes += len;
		(*nfiles)++;
		rc = irfs_cpio_add_data(c, dst, 0644, data, len);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
			break;
		}
		/* this module's modules.dep line, with the image's file names */
		n = snprintf(line, sizeof(line), "%s:", rel);
		copy = strdup(m->deps);
		if (!copy) {
			rc = -ENOMEM;
			snprintf(err, errlen, "%s: %s", m->path, strerror(ENOMEM));
			break;
		}
		for (p = strtok_r(copy, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
			char drel[PATH_MAX];
			image_rel(p, drel, sizeof(drel));
			if (n > 0 && (size_t)n < sizeof(line))
				n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", drel);
		}
		free(copy);
		if (n < 0 || (size_t)n >= sizeof(line) - 1) {
			rc = -E2BIG;
			snprintf(err, errlen, "%s: dependency line too long", m->path);
			break;
		}
		line[n++] = '\n';
		if (deplen + (size_t)n + 1 > depcap) {
			char *nd = realloc(dep, depcap = (deplen + (size_t)n + 1) * 2);
			if (!nd) {
				rc = -ENOMEM;
				snprintf(err, errlen, "modules.dep: %s", strerror(ENOMEM));
				break;
			}
			dep = nd;
		}
		memcpy(dep + deplen, line, (size_t)n);
		deplen += (size_t)n;
		dep[deplen] = 0;
	}
	if (rc == 0) {
		char dst[PATH_MAX];

		snprintf(dst, sizeof(dst), "/lib/modules/%s/modules.dep", t->kver);
		if (!dep)
			dep = strdup("");
		rc = dep ? irfs_cpio_add_data(c, dst, 0644, dep, deplen) : -ENOMEM;
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
		dep = NULL;
		if (rc == 0) {
			struct strbuf x = { 0 };
			snprintf(dst, sizeof(dst), "/lib/modules/%s/modules.softdep", t->kver);
			rc = soft_text(t, &x);
			if (rc == 0)
				rc = irfs_cpio_add_data(c, dst, 0644, x.s, x.len);
			else
				free(x.s);
			if (rc < 0)
				snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
		}
		for (size_t i = 0; i < t->nasked; i++) {
			size_t used = strlen(list);
			snprintf(list + used, listlen - used, "%s%s", used ? "," : "",
				 t->asked[i]->name);
		}
	}
	free(dep);
	return rc;
}

int irfs_elf_is_dynamic(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t phoff;
	uint16_t phentsize, phnum;

	if (len < 64 || memcmp(p, "\177ELF", 4) || p[4] != 2 || p[5] != 1)
		return -1;   /* ELF64 little-endian only: the agent is x86_64 */
	phoff = le_get64(p + 32);
	phentsize = le_get16(p + 54);
	phnum = le_get16(p + 56);
	if (phentsize < 56 || phoff > len || (uint64_t)phnum * phentsize > len - phoff)
		return -1;
	for (uint16_t i = 0; i < phnum; i++) {
		if (le_get32(p + phoff + (uint64_t)i * phentsize) == PT_INTERP)
			return 1;
	}
	return 0;
}
