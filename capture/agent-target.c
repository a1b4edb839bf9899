/* agent-target.c - where dumps go: parse the target, find its device by
 * reading superblocks, mount it.
 *
 * Targets:  disk:SPEC[:DIR]   SPEC is UUID=..., LABEL=... or /dev/NODE; DIR is
 *                             the directory inside that file system
 *                             (default /var/crash)
 *           dir:PATH          an already mounted directory (tests, or an
 *                             initramfs that mounts its own file systems)
 *
 * The crash kernel has no udev: /dev/disk/by-* links do not exist, so UUID and
 * LABEL are matched by reading the superblock of every block device listed in
 * /sys/class/block, again every 100 ms until the wait runs out.  No libblkid
 * in a static agent: the fields needed are few and fixed, for the two file
 * systems the agent mounts.
 *
 * ext4 (Documentation/filesystems/ext4/super.rst): superblock at byte 1024,
 *   s_magic 0xEF53 (le16) at +0x38, s_feature_incompat (le32) at +0x60,
 *   s_uuid[16] at +0x68, s_volume_name[16] at +0x78.
 * XFS (fs/xfs/libxfs/xfs_format.h, struct xfs_dsb): at byte 0, sb_magicnum
 *   "XFSB" (be32), sb_uuid[16] at +32, sb_fname[12] at +108.
 */
#include "agent-internal.h"
#include "../common/le.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MOUNTPOINT "/run/salvage/target"

#define EXT_SB 1024
#define EXT_MAGIC_OFF 0x38
#define EXT_INCOMPAT_OFF 0x60
#define EXT_UUID_OFF 0x68
#define EXT_LABEL_OFF 0x78
#define EXT_INCOMPAT_JOURNAL_DEV 0x8
#define XFS_UUID_OFF 32
#define XFS_FNAME_OFF 108

static void fmt_uuid(const unsigned char *u, char *out, size_t len)
{
	snprintf(out, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

/* A fixed-size, possibly unterminated name field. */
static void copy_label(const unsigned char *p, size_t n, char *out, size_t len)
{
	size_t i;

	for (i = 0; i < n && i + 1 < len && p[i]; i++)
		out[i] = (char)p[i];
	out[i] = 0;
}

int cap_agent_probe(const char *dev, struct cap_agent_fsinfo *fi)
{
	unsigned char buf[4096];
	ssize_t got = 0;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	memset(fi, 0, sizeof(*fi));
	if (fd < 0)
		return -errno;
	while (got < (ssize_t)sizeof(buf)) {
		ssize_t r = pread(fd, buf + got, sizeof(buf) - (size_t)got, got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		got += r;
	}
	close(fd);

	if (got >= EXT_SB + 0x88 && le_get16(buf + EXT_SB + EXT_MAGIC_OFF) == 0xEF53 &&
	    !(le_get32(buf + EXT_SB + EXT_INCOMPAT_OFF) & EXT_INCOMPAT_JOURNAL_DEV)) {
		/* the ext4 driver mounts ext2 and ext3 as well */
		snprintf(fi->type, sizeof(fi->type), "ext4");
		fmt_uuid(buf + EXT_SB + EXT_UUID_OFF, fi->uuid, sizeof(fi->uuid));
		copy_label(buf + EXT_SB + EXT_LABEL_OFF, 16, fi->label, sizeof(fi->label));
		return 0;
	}
	if (got >= 120 && !memcmp(buf, "XFSB", 4)) {
		snprintf(fi->type, sizeof(fi->type), "xfs");
		fmt_uuid(buf + XFS_UUID_OFF, fi->uuid, sizeof(fi->uuid));
		copy_label(buf + XFS_FNAME_OFF, 12, fi->label, sizeof(fi->label));
		return 0;
	}
	return -ENODATA;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[1024];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cap_agent_target_parse(const char *text, struct cap_agent_target *t, char *why,
			   size_t whylen)
{
	struct cfg_target ct;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!*text) {
		snprintf(why, whylen, "no target configured");
		return -EINVAL;
	}
	rc = cfg_target_parse(text, &ct, why, whylen);
	if (rc < 0)
		return rc;
	t->is_dir = ct.is_dir;
	if (ct.is_dir) {
		snprintf(t->dir, sizeof(t->dir), "%s", ct.dir);
		return 0;
	}
	/* the schema's limits fit these fields */
	_Static_assert(sizeof(t->spec) >= sizeof(ct.spec), "spec");
	_Static_assert(sizeof(t->device) > CFG_TARGET_DEVICE_MAX, "device");
	snprintf(t->spec, sizeof(t->spec), "%s", ct.spec);
	if (strlen(ct.dir) >= sizeof(t->subdir)) {
		snprintf(why, whylen, "target %.64s: directory too long", text);
		return -EINVAL;
	}
	snprintf(t->subdir, sizeof(t->subdir), "%s", ct.dir);
	return 0;
}

static bool matches(const struct cap_agent_target *t, const struct cap_agent_fsinfo *fi)
{
	if (!strncmp(t->spec, "UUID=", 5))
		return !strcasecmp(fi->uuid, t->spec + 5);
	return !strcmp(fi->label, t->spec + 6);
}

/* One pass over /sys/class/block.  seen collects what was found, for the
 * message when nothing matched. */
static bool scan(struct cap_agent_target *t, char *seen, size_t seenlen)
{
	DIR *d = opendir("/sys/class/block");
	struct dirent *e;
	bool found = false;
	size_t used = 0;

	if (!d)
		return false;
	seen[0] = 0;
	while (!found && (e = readdir(d))) {
		char dev[sizeof(t->device)];
		struct cap_agent_fsinfo fi;
		struct stat st;
		int rc;

		if (e->d_name[0] == '.' || !strncmp(e->d_name, "ram", 3) ||
		    !strncmp(e->d_name, "loop", 4))
			continue;
		if (strlen(e->d_name) + 6 > sizeof(dev))
			continue;
		snprintf(dev, sizeof(dev), "/dev/%.*s", (int)(sizeof(dev) - 6), e->d_name);
		if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode))
			continue;
		rc = cap_agent_probe(dev, &fi);
		if (used + 64 < seenlen) {
			int n = snprintf(seen + used, seenlen - used, "%s%s(%s%s%s)",
					 used ? " " : "", e->d_name, rc == 0 ? fi.type : "no fs",
					 rc == 0 && fi.label[0] ? " " : "", rc == 0 ? fi.label : "");
			if (n > 0)
				used += (size_t)n < seenlen - used ? (size_t)n : 0;
		}
		if (rc == 0 && matches(t, &fi)) {
			snprintf(t->device, sizeof(t->device), "%s", dev);
			t->fs = fi;
			found = true;
		}
	}
	closedir(d);
	return found;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cap_agent_target_find(struct cap_agent_target *t, unsigned wait_s, char *why,
			  size_t whylen)
{
	double deadline = cap_agent_now() + wait_s;
	char seen[512] = "";
	int rc = -ENODEV;

	if (t->is_dir)
		return 0;
	for (;;) {
		if (!strncmp(t->spec, "/dev/", 5)) {
			struct stat st;

			/* a node that is not yet a block device would turn writes into
			 * a RAM file in devtmpfs: wait for the real thing */
			if (stat(t->spec, &st) == 0 && S_ISBLK(st.st_mode)) {
				snprintf(t->device, sizeof(t->device), "%.*s", (int)sizeof(t->device) - 1, t->spec);
				rc = cap_agent_probe(t->device, &t->fs);
				if (rc == 0 || rc == -ENODATA)
					return 0;   /* the mount stage reports an unknown fs */
			}
		} else if (scan(t, seen, sizeof(seen))) {
			return 0;
		}
		if (cap_agent_now() >= deadline)
			break;
		nap_ms(100);
	}
	if (!strncmp(t->spec, "/dev/", 5))
		snprintf(why, whylen, "%s: %s after %u s", t->spec,
			 rc == -ENODEV ? "no such block device" : strerror(-rc), wait_s);
	else
		snprintf(why, whylen, "no file system with %s after %u s (block devices: %s)",
			 t->spec, wait_s, seen[0] ? seen : "none");
	return rc == -ENODEV ? -ENODEV : rc;
}

int cap_agent_target_mount(struct cap_agent_target *t, const char *fstype, char *why,
			   size_t whylen)
{
	const char *type = fstype && *fstype ? fstype : t->fs.type;
	int rc;

	if (t->is_dir) {
		rc = mkdir_p(t->dir, 0755);
		if (rc < 0)
			snprintf(why, whylen, "%s: %s", t->dir, strerror(-rc));
		return rc;
	}
	if (!*type) {
		snprintf(why, whylen, "%s: no ext4 or xfs file system found (set fstype=)",
			 t->device);
		return -ENODATA;
	}
	if (!cap_agent_have_fs(type)) {
		struct cap_agent_kmod_stats st;

		if (cap_agent_kmod_load(type, &st) < 0 && !cap_agent_have_fs(type)) {
			snprintf(why, whylen, "%s: file system %s unavailable: %s", t->device,
				 type, st.first_error[0] ? st.first_error : "no module");
			return -ENODEV;
		}
	}
	rc = mkdir_p(MOUNTPOINT, 0755);
	if (rc < 0) {
		snprintf(why, whylen, "%s: %s", MOUNTPOINT, strerror(-rc));
		return rc;
	}
	snprintf(t->mountpoint, sizeof(t->mountpoint), "%s", MOUNTPOINT);
	if (mount(t->device, t->mountpoint, type, MS_NOATIME | MS_NODEV | MS_NOSUID, NULL) < 0) {
		rc = -errno;
		snprintf(why, whylen, "mount %s (%s) on %s: %s", t->device, type,
			 t->mountpoint, strerror(-rc));
		return rc;
	}
	t->mounted = true;
	snprintf(t->dir, sizeof(t->dir), "%s%s", t->mountpoint,
		 strcmp(t->subdir, "/") ? t->subdir : "");
	rc = mkdir_p(t->dir, 0755);
	if (rc < 0)
		snprintf(why, whylen, "%s (on %s): %s", t->subdir, t->device, strerror(-rc));
	return rc;
}

void cap_agent_target_umount(struct cap_agent_target *t)
{
	if (!t->mounted)
		return;
	sync();
	if (umount2(t->mountpoint, 0) < 0)
		umount2(t->mountpoint, MNT_DETACH);
	t->mounted = false;
}

int cap_agent_free_bytes(const char *path, uint64_t *bytes)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -errno;
	*bytes = (uint64_t)sv.f_bfree * sv.f_frsize;
	return 0;
}
