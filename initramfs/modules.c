/* modules.c - pick kernel modules out of a module tree (an installed
 * /lib/modules/KVER or an unpacked kernel package) through modules.dep, as
 * depmod wrote it; built-in modules come from modules.builtin.
 *
 * Modules go into the image decompressed (.ko), so the agent never needs the
 * kernel to decompress: zstd and gzip through the libraries linked anyway, xz
 * through liblzma when built with SALVAGE_HAVE_LZMA.  Without it an .ko.xz is
 * kept as is if the kernel's config has CONFIG_MODULE_DECOMPRESS=y (the agent
 * then passes MODULE_INIT_COMPRESSED_FILE), and refused otherwise: better a
 * clear error now than a module that cannot load after a crash.
 */
#include "initramfs.h"
#include "kmod.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct az_modtree {
	char root[PATH_MAX];
	char kver[128];
	char dir[PATH_MAX];
	char *builtin_text;
	struct kmod_table tab;     /* seen: in the image */
	struct kmod_entry **asked; /* the load list: in the order asked, once each */
	size_t nasked;
};

const char *az_modtree_dir(const struct az_modtree *t)
{
	return t->dir;
}

int az_modtree_open(const char *root, const char *kver, struct az_modtree **out,
		    char *err, size_t errlen)
{
	struct az_modtree *t = calloc(1, sizeof(*t));
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
	snprintf(path, sizeof(path), "%s/modules.builtin", t->dir);
	if (kmod_read_file(path, KMOD_BUILTIN_MAX_BYTES, &data, &len) == 0)
		t->builtin_text = data;
	t->asked = calloc(t->tab.n ? t->tab.n : 1, sizeof(*t->asked));
	if (!t->asked) {
		snprintf(err, errlen, "%s: %s", t->dir, strerror(ENOMEM));
		az_modtree_close(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void az_modtree_close(struct az_modtree *t)
{
	if (!t)
		return;
	kmod_table_free(&t->tab);
	free(t->builtin_text);
	free(t->asked);
	free(t);
}

int az_modtree_want(struct az_modtree *t, const char *name)
{
	char nm[KMOD_NAME_MAX];
	struct kmod_entry *m;
	size_t i;

	kmod_name(name, nm, sizeof(nm));
	m = kmod_table_find(&t->tab, nm);
	if (!m)
		return kmod_builtin_has(t->builtin_text, nm) ? 1 : -ENOENT;
	/* marks m and its dependencies seen; the only possible error, a chain
	 * deeper than KMOD_MAX_DEPTH, leaves the rest of the chain out as before */
	(void)kmod_table_walk(&t->tab, m, NULL, NULL);
	for (i = 0; i < t->nasked && t->asked[i] != m; i++)
		;
	if (i == t->nasked)
		t->asked[t->nasked++] = m;
	return 0;
}

int az_modtree_config_y(const struct az_modtree *t, const char *name)
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

/* The path a module gets in the image: .ko when it is decompressed here. */
static void image_rel(const char *rel, char *out, size_t len)
{
	const char *ko = strstr(rel, ".ko");

	if (!ko || !kmod_is_compressed(rel) || !kmod_can_unpack(rel))
		snprintf(out, len, "%s", rel);
	else
		snprintf(out, len, "%.*s.ko", (int)(ko - rel), rel);
}

int az_modtree_stage(struct az_modtree *t, struct az_cpio *c, char *list, size_t listlen,
		     unsigned *nfiles, uint64_t *bytes, char *err, size_t errlen)
{
	char *dep = NULL;
	size_t deplen = 0, depcap = 0;
	bool kernel_unpacks = az_modtree_config_y(t, "CONFIG_MODULE_DECOMPRESS") == 1;
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
		rc = az_cpio_add_data(c, dst, 0644, data, len);
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
		rc = dep ? az_cpio_add_data(c, dst, 0644, dep, deplen) : -ENOMEM;
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
		dep = NULL;
		for (size_t i = 0; i < t->nasked; i++) {
			size_t used = strlen(list);
			snprintf(list + used, listlen - used, "%s%s", used ? "," : "",
				 t->asked[i]->name);
		}
	}
	free(dep);
	return rc;
}

int az_elf_is_dynamic(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t phoff;
	uint16_t phentsize, phnum;

	if (len < 64 || memcmp(p, "\177ELF", 4) || p[4] != 2 || p[5] != 1)
		return -1;   /* ELF64 little-endian only: the agent is x86_64 */
	memcpy(&phoff, p + 32, 8);
	memcpy(&phentsize, p + 54, 2);
	memcpy(&phnum, p + 56, 2);
	if (phentsize < 56 || phoff > len || (uint64_t)phnum * phentsize > len - phoff)
		return -1;
	for (uint16_t i = 0; i < phnum; i++) {
		uint32_t type;
		memcpy(&type, p + phoff + (uint64_t)i * phentsize, 4);
		if (type == 3)   /* PT_INTERP */
			return 1;
	}
	return 0;
}
