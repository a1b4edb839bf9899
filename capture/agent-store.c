/* agent-store.c - the dump directory: naming, durable renames, pruning.
 *
 * A dump lives in DIR/<host>-<YYYYmmddTHHMMSSZ>/ (UTC, ISO 8601 basic form, so
 * names sort by time).  Files are written under temporary names and renamed
 * only after fsync; the directory is fsynced after each rename.  Pruning only
 * ever touches directories whose names have that form.
 */
#include "agent-internal.h"
#include "../common/fsync.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DUMPS 4096

/* Offset of the "-YYYYmmddTHHMMSSZ" stamp in name, or -1 if name is not ours. */
static int stamp_at(const char *name)
{
	size_t len = strlen(name), end = len;
	const char *dot = strrchr(name, '.');

	/* an optional ".N" for a second dump in the same second */
	if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
		end = (size_t)(dot - name);
	if (end < 18)
		return -1;
	const char *s = name + end - 17;   /* "-YYYYmmddTHHMMSSZ" */
	if (s[0] != '-' || s[9] != 'T' || s[16] != 'Z')
		return -1;
	for (int i = 1; i < 16; i++)
		if (i != 9 && !isdigit((unsigned char)s[i]))
			return -1;
	return (int)(s - name);
}

struct dent {
	char name[256];
	char key[64];   /* stamp, then suffix: sorts oldest first */
};

static int cmp_dent(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->name, y->name);
}

/* Remove the directory name in dirfd and everything under it, whatever its
 * depth, never following a symlink, with two descriptors at most: go down
 * into the first subdirectory found, empty a directory of everything else,
 * come back up through "..", remove it by name.  The names on the way down
 * are the only memory used. */
static int remove_tree(int dirfd, const char *name)
{
	char **stack = NULL;
	size_t depth = 0, cap = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		int dfd = dup(fd), nfd;
		char *sub = NULL;
		struct dirent *e;
		DIR *d;

		if (dfd < 0 || !(d = fdopendir(dfd))) {
			rc = -errno;
			if (dfd >= 0)
				close(dfd);
			break;
		}
		rewinddir(d);   /* the offset is shared with fd: start from the top */
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (unlinkat(fd, e->d_name, 0) == 0)
				continue;
			if (errno == EISDIR || errno == EPERM)
				sub = strdup(e->d_name);
			rc = sub ? 0 : errno == EISDIR || errno == EPERM ? -ENOMEM : -errno;
			break;
		}
		closedir(d);
		if (rc < 0)
			break;
		if (sub) {
			char **ns = depth < cap ? stack : realloc(stack, (cap * 2 + 8) * sizeof(*stack));

			nfd = ns ? openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
			if (nfd < 0) {
				rc = ns ? -errno : -ENOMEM;
				free(sub);
				break;
			}
			if (ns != stack) {
				stack = ns;
				cap = cap * 2 + 8;
			}
			stack[depth++] = sub;
			close(fd);
			fd = nfd;
			continue;
		}
		if (depth == 0)
			break;
		/* empty: up one level, and remove it */
		nfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0) {
			rc = -errno;
			break;
		}
		close(fd);
		fd = nfd;
		depth--;
		rc = unlinkat(fd, stack[depth], AT_REMOVEDIR) < 0 ? -errno : 0;
		free(stack[depth]);
		if (rc < 0)
			break;
	}
	close(fd);
	while (depth)
		free(stack[--depth]);
	free(stack);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

int cap_agent_prune(const char *dir, unsigned keep, uint64_t minfree, char *removed,
		    size_t removedlen, unsigned *nremoved)
{
	struct dent *list;
	size_t n = 0, first = 0;
	DIR *d;
	struct dirent *e;
	int rc = 0;
	uint64_t free_b = 0;

	*nremoved = 0;
	removed[0] = 0;
	if (!keep && !minfree)
		return 0;
	d = opendir(dir);
	if (!d)
		return -errno;
	list = calloc(MAX_DUMPS, sizeof(*list));
	if (!list) {
		closedir(d);
		return -ENOMEM;
	}
	while ((e = readdir(d)) && n < MAX_DUMPS) {
		struct stat st;
		int at = stamp_at(e->d_name);

		if (at < 0 || strlen(e->d_name) >= sizeof(list[n].name))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		snprintf(list[n].name, sizeof(list[n].name), "%s", e->d_name);
		snprintf(list[n].key, sizeof(list[n].key), "%s", e->d_name + at + 1);
		n++;
	}
	qsort(list, n, sizeof(*list), cmp_dent);
	for (; first < n; first++) {
		bool too_many = keep && n - first >= keep;   /* room for the new dump */
		bool too_full = false;

		if (!too_many && minfree) {
			if (cap_agent_free_bytes(dir, &free_b) < 0)
				break;
			too_full = free_b < minfree;
		}
		if (!too_many && !too_full)
			break;
		int r = remove_tree(dirfd(d), list[first].name);
		if (r < 0) {
			rc = r;
			break;
		}
		(*nremoved)++;
		size_t used = strlen(removed);
		snprintf(removed + used, removedlen - used, "%s%s", used ? "," : "",
			 list[first].name);
	}
	if (*nremoved)
		fsync(dirfd(d));
	closedir(d);
	free(list);
	return rc;
}

int cap_agent_make_dump_dir(const char *dir, const char *host, int64_t when, char *out,
			    size_t outlen)
{
	char h[65], stamp[32];
	time_t t = (time_t)when;
	struct tm tm;
	size_t i;

	/* a host name is untrusted text from the dump: keep it a plain file name */
	for (i = 0; host[i] && i + 1 < sizeof(h); i++)
		h[i] = isalnum((unsigned char)host[i]) || strchr("._-", host[i]) ? host[i] : '_';
	h[i] = 0;
	if (!i || h[0] == '.')
		snprintf(h, sizeof(h), "unknown");
	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int n = 0; n < 100; n++) {
		int len = n ? snprintf(out, outlen, "%s/%s-%s.%d", dir, h, stamp, n)
			    : snprintf(out, outlen, "%s/%s-%s", dir, h, stamp);
		if (len < 0 || (size_t)len >= outlen)
			return -ENAMETOOLONG;
		if (mkdir(out, 0700) == 0) {
			cap_agent_sync_dir(dir);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int cap_agent_sync_dir(const char *dir)
{
	return sv_fsync_path(dir, O_DIRECTORY);
}

int cap_agent_commit(const char *tmppath, const char *newpath)
{
	char parent[1024];
	char *slash;
	int rc = sv_fsync_path(tmppath, 0);

	if (rc < 0)
		return rc;
	if (rename(tmppath, newpath) < 0)
		return -errno;
	snprintf(parent, sizeof(parent), "%s", newpath);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		return cap_agent_sync_dir(parent);
	}
	return 0;
}
