/* agent-kmod.c - load kernel modules the way modprobe would, without kmod:
 * names resolved through /lib/modules/<release>/modules.dep, dependencies
 * first, each file given to finit_module(2).  Soft dependencies from the
 * image's modules.softdep (mkinitramfs resolved their aliases) load before
 * or after their module; one that fails is counted, not an error, as for
 * modprobe (crc32c_intel refuses a CPU without SSE4.2; crc32c_generic does).
 *
 * Compressed modules (.ko.xz, .ko.zst, .ko.gz) are first offered to the kernel
 * with MODULE_INIT_COMPRESSED_FILE (5.17+, CONFIG_MODULE_DECOMPRESS; Debian's
 * 6.12 has it); a kernel that refuses gets the module decompressed in memory
 * and loaded with init_module(2).  xz needs liblzma: built only when the
 * Makefile defines SALVAGE_HAVE_LZMA and links -llzma.
 *
 * modules.dep, names and decompression are initramfs/kmod.c, shared with
 * `salvage mkinitramfs`, so the image and the agent read a tree alike.
 */
#include "agent-internal.h"
#include "../kmod/kmod.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

struct moddb {
	char dir[PATH_MAX];
	struct kmod_table tab;
};

static int find_moddir(char *dir, size_t len)
{
	struct utsname u;
	struct stat st;
	DIR *d;
	struct dirent *e;
	int found = 0;

	if (uname(&u) == 0) {
		snprintf(dir, len, "/lib/modules/%s", u.release);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
	}
	/* an image built for another release of the same kernel: use its only tree */
	d = opendir("/lib/modules");
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, len, "/lib/modules/%s", e->d_name);
		found++;
	}
	closedir(d);
	return found == 1 ? 0 : -ENOENT;
}

static int db_open(struct moddb *db)
{
	int rc;

	memset(db, 0, sizeof(*db));
	rc = find_moddir(db->dir, sizeof(db->dir));
	if (rc == 0)
		rc = kmod_table_load(&db->tab, db->dir);
	return rc < 0 ? rc : kmod_table_load_softdep(&db->tab, db->dir);
}

/* Built in, or already loaded: /sys/module/NAME, else modules.builtin. */
static bool present(const struct moddb *db, const char *name)
{
	char path[PATH_MAX + 32];
	void *text;
	size_t len;
	struct stat st;
	bool yes;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (stat(path, &st) == 0)
		return true;
	snprintf(path, sizeof(path), "%s/modules.builtin", db->dir);
	if (kmod_read_file(path, KMOD_BUILTIN_MAX_BYTES, &text, &len) < 0)
		return false;
	yes = kmod_builtin_has(text, name);
	free(text);
	return yes;
}

/* Load one module file; 0 also when it is already loaded. */
static int load_file(const char *dir, const char *rel, char *err, size_t errlen)
{
	char path[PATH_MAX * 2];
	bool compressed = kmod_is_compressed(rel);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
		return rc;
	}
	if (syscall(SYS_finit_module, fd, "", compressed ? MODULE_INIT_COMPRESSED_FILE : 0) < 0)
		rc = -errno;
	close(fd);
	if (rc == -EEXIST)
		return 0;
	if (compressed && (rc == -EOPNOTSUPP || rc == -EINVAL || rc == -ENOSYS)) {
		/* the kernel cannot decompress: do it here */
		void *data, *mod;
		size_t len, modlen;

		rc = kmod_read_file(path, KMOD_MAX_BYTES, &data, &len);
		if (rc == 0) {
			rc = kmod_unpack(rel, data, len, &mod, &modlen);
			free(data);
			if (rc == 0) {
				if (syscall(SYS_init_module, mod, (unsigned long)modlen, "") < 0)
					rc = errno == EEXIST ? 0 : -errno;
				free(mod);
			} else if (rc == -ENOTSUP) {
				snprintf(err, errlen, "%s: kernel cannot decompress it and this "
					 "agent was built without that codec", rel);
				return rc;
			}
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", rel, strerror(-rc));
	return rc;
}

struct load_ctx {
	struct moddb *db;
	struct cap_agent_kmod_stats *st;
	int soft;               /* > 0: loading a soft dependency */
};

static int load_one(struct kmod_entry *m, void *arg);

static int load_soft(const char *name, void *arg)
{
	struct load_ctx *c = arg;
	char nm[KMOD_NAME_MAX];
	struct kmod_entry *d;

	kmod_name(name, nm, sizeof(nm));
	d = kmod_table_find(&c->db->tab, nm);
	if (d) {
		c->soft++;
		(void)kmod_table_walk(&c->db->tab, d, load_one, c);
		c->soft--;
	}
	return 0;
}

/* kmod_table_walk's visit: the module's dependencies are already in. */
static int load_one(struct kmod_entry *m, void *arg)
{
	struct load_ctx *c = arg;
	struct cap_agent_kmod_stats *st = c->st;
	char err[256];
	int r;

	if (present(c->db, m->name)) {
		st->present++;
		return 0;
	}
	kmod_softdep_each(&c->db->tab, m, false, load_soft, c);
	r = load_file(c->db->dir, m->path, err, sizeof(err));
	if (r < 0 && c->soft) {
		st->soft_failed++;
		return 0;
	}
	if (r < 0) {
		st->failed++;
		if (!st->first_error[0])
			snprintf(st->first_error, sizeof(st->first_error), "%s", err);
		return r;
	}
	st->loaded++;
	kmod_softdep_each(&c->db->tab, m, true, load_soft, c);
	return 0;
}

int cap_agent_kmod_load(const char *names, struct cap_agent_kmod_stats *st)
{
	struct moddb db;
	struct load_ctx ctx = { &db, st, 0 };
	char *list, *p, *save = NULL;
	int dbrc, first = 0;

	memset(st, 0, sizeof(*st));
	if (!names || !*names)
		return 0;
	dbrc = db_open(&db);
	if (dbrc < 0 && dbrc != -ENOENT) {
		snprintf(st->first_error, sizeof(st->first_error), "modules.dep: %s",
			 strerror(-dbrc));
		kmod_table_free(&db.tab);
		return dbrc;
	}
	list = strdup(names);
	if (!list) {
		kmod_table_free(&db.tab);
		return -ENOMEM;
	}
	for (p = strtok_r(list, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
		char name[KMOD_NAME_MAX];
		struct kmod_entry *m;

		kmod_name(p, name, sizeof(name));
		m = dbrc == 0 ? kmod_table_find(&db.tab, name) : NULL;
		if (m) {
			int rc = kmod_table_walk(&db.tab, m, load_one, &ctx);
			if (rc < 0 && !first)
				first = rc;
		} else if (present(&db, name)) {
			st->present++;
		} else {
			st->failed++;
			if (!st->first_error[0])
				snprintf(st->first_error, sizeof(st->first_error),
					 "%.63s: not in %.150s/modules.dep", name,
					 db.dir[0] ? db.dir : "/lib/modules");
			if (!first)
				first = -ENOENT;
		}
	}
	free(list);
	kmod_table_free(&db.tab);
	return first;
}

bool cap_agent_have_fs(const char *fstype)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[128];
	bool yes = false;

	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		if (!strncmp(s, "nodev", 5))
			continue;
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		yes = !strcmp(s, fstype);
	}
	fclose(f);
	return yes;
}
