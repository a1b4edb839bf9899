/* status.c - `salvage status`: is this machine ready to capture a crash, and
 * if not, exactly why not.  For people (text) and monitoring (--json and
 * the exit status).
 *
 * Armed means: memory is reserved (/sys/kernel/kexec_crash_size), a crash
 * kernel is loaded (/sys/kernel/kexec_crash_loaded), and the crash
 * initramfs of the running kernel was built for this kernel release and
 * holds the values of the configuration file.  Whether the reservation is
 * large enough and whether the target has room for a dump are estimates:
 * they are reported as warnings, never as "not armed".
 */
#include "salvage.h"
#include "../config/config.h"
#include "../initramfs/initramfs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>

#define MIB (1024ull * 1024)

enum { EXIT_NOT_ARMED = 1, EXIT_MISCONFIGURED = 3 };

uint64_t az_crash_need(uint64_t kernel_bytes, uint64_t initrd_bytes)
{
	/* The crash kernel needs room for its decompressed self (about twice
	 * the bzImage), the compressed initramfs and its unpacked copy (a zstd
	 * image unpacks to about three times its size), and a base for a
	 * one-CPU kernel's page tables, slab and the agent's working memory.
	 * The base, 56M, comes from tests/bench/reservation-bench.sh: Debian's
	 * 6.1 cloud kernel (13.5 MiB) with a 2.2 MiB image captured 1, 4 and
	 * 16 GiB guests at crashkernel=88M and ran out of memory unpacking the
	 * initramfs at 80M; 56M makes that 96M, one 8M step above the
	 * measurement, which also holds the agent's bitmaps of a 1 TiB machine
	 * (README, "Installing as a service").  Nothing here grows with RAM:
	 * the agent's bitmaps go cyclic within its budget. */
	uint64_t need = 56 * MIB + 2 * kernel_bytes + 4 * initrd_bytes;

	return (need + 8 * MIB - 1) / (8 * MIB) * (8 * MIB);
}

/* First line of a small file, or "" (false) when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok = false;

	buf[0] = 0;
	if (!f)
		return false;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = 0;
		ok = true;
	}
	fclose(f);
	return ok;
}

/* A decimal number without sign or trailing garbage. */
static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

/* /proc/meminfo's KEY in bytes, 0 when absent. */
static uint64_t meminfo(const char *root, const char *key)
{
	char path[PATH_MAX], line[256];
	size_t kl = strlen(key);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (!strncmp(line, key, kl) && line[kl] == ':' &&
		    sscanf(line + kl + 1, "%llu", &kb) == 1 && kb <= UINT64_MAX / 1024) {
			v = kb * 1024;
			break;
		}
	}
	fclose(f);
	return v;
}

/* The dump size at level: memory minus what the level leaves out (makedumpfile's
 * -d bits: 2 and 4 page cache, 8 user data, 16 free pages; zero pages are
 * not counted), before compression: an upper bound. */
static uint64_t dump_estimate(const char *root, uint64_t level)
{
	uint64_t total = meminfo(root, "MemTotal"), out = 0;

	if (level & 16)
		out += meminfo(root, "MemFree");
	if (level & 4)
		out += meminfo(root, "Cached");
	else if (level & 2)
		out += meminfo(root, "Cached") > meminfo(root, "Shmem") ?
		       meminfo(root, "Cached") - meminfo(root, "Shmem") : 0;
	if (level & 8)
		out += meminfo(root, "AnonPages");
	return out < total ? total - out : 0;
}

/* The mount point of the file system on device dev (/proc/self/mountinfo's
 * major:minor field), into mnt; false when it is not mounted. */
static bool mount_of_dev(dev_t dev, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char point[2048];

		/* ID PARENT MAJ:MIN ROOT POINT ...; only whole-file-system mounts */
		if (sscanf(line, "%*u %*u %u:%u / %2047s", &maj, &min, point) == 3 &&
		    makedev(maj, min) == dev && !strchr(point, '\\')) {
			snprintf(mnt, len, "%s", point);
			found = true;
		}
	}
	fclose(f);
	return found;
}

struct status {
	char kver[65], kernel[PATH_MAX], initrd[PATH_MAX], conf[PATH_MAX];
	char size_s[32], loaded_s[8], why[512], image_kver[CFG_LINE_MAX + 1];
	char target[600], dumpdir[PATH_MAX + 600], target_note[300], mismatch[256];
	bool have_size, have_loaded, loaded, have_kernel, have_initrd, conf_exists, conf_ok;
	bool image_ok, have_free;
	uint64_t crash_size, kernel_size, initrd_size, need, ram, dump_max, free_bytes, level;
	int nbad;
	struct cfg cfg;
};

static void add_mismatch(struct status *s, const char *what)
{
	size_t n = strlen(s->mismatch);

	snprintf(s->mismatch + n, sizeof(s->mismatch) - n, "%s%s", n ? ", " : "", what);
}

/* Compare the image's configuration with the file's: every key the file sets
 * must have the same value in the image (target only when the file names
 * one: the service picks it otherwise), and kver must be the release. */
static void check_image(struct status *s)
{
	struct cfg img, def;
	struct stat ist, cst, kst;
	char *text, err[256];
	size_t len, nkeys;
	const struct cfg_key *keys = cfg_keys(&nkeys);

	if (irfs_image_read(s->initrd, "etc/salvage.conf", &text, &len, err, sizeof(err)) < 0) {
		snprintf(s->mismatch, sizeof(s->mismatch), "unreadable: %.200s", err);
		return;
	}
	cfg_defaults(&img);
	if (cfg_parse_text(&img, text, len, NULL, NULL) > 0)
		add_mismatch(s, "its configuration has refused lines");
	free(text);
	snprintf(s->image_kver, sizeof(s->image_kver), "%s", img.kver);
	if (strcmp(img.kver, s->kver))
		add_mismatch(s, "built for another kernel");
	cfg_defaults(&def);
	for (size_t k = 0; k < nkeys && s->conf_ok; k++) {
		char a[CFG_LINE_MAX + 1], b[CFG_LINE_MAX + 1], d[CFG_LINE_MAX + 1];

		if (!strcmp(keys[k].name, "kver"))
			continue;
		cfg_value(&s->cfg, &keys[k], a, sizeof(a));
		cfg_value(&def, &keys[k], d, sizeof(d));
		cfg_value(&img, &keys[k], b, sizeof(b));
		if (strcmp(a, d) && strcmp(a, b)) {
			char m[64];
			snprintf(m, sizeof(m), "%s differs", keys[k].name);
			add_mismatch(s, m);
		}
	}
	if (stat(s->initrd, &ist) == 0) {
		if (s->conf_exists && stat(s->conf, &cst) == 0 && cst.st_mtime > ist.st_mtime)
			add_mismatch(s, "the configuration file is newer");
		if (s->have_kernel && stat(s->kernel, &kst) == 0 && kst.st_mtime > ist.st_mtime)
			add_mismatch(s, "the kernel is newer");
	}
	s->image_ok = !s->mismatch[0];
}

/* Where dumps land on this system and how much room there is. */
static void check_target(struct status *s, const char *root)
{
	struct cfg_target t;
	struct statvfs v;
	char why[256], dev[PATH_MAX], mnt[sizeof(s->dumpdir)];
	struct stat st;

	snprintf(s->target, sizeof(s->target), "%s", s->cfg.target);
	if (!s->cfg.target[0]) {
		snprintf(s->dumpdir, sizeof(s->dumpdir), "%s/var/crash", root);
		snprintf(s->target_note, sizeof(s->target_note),
			 "none set: the service uses the file system of /var/crash");
	} else if (cfg_target_parse(s->cfg.target, &t, why, sizeof(why)) < 0) {
		snprintf(s->target_note, sizeof(s->target_note), "%s", why);
		return;
	} else if (t.is_dir) {
		snprintf(s->target_note, sizeof(s->target_note),
			 "a directory of the crash kernel's own root: dumps do not survive the reboot");
		return;
	} else {
		if (!strncmp(t.spec, "UUID=", 5))
			snprintf(dev, sizeof(dev), "%s/dev/disk/by-uuid/%s", root, t.spec + 5);
		else if (!strncmp(t.spec, "LABEL=", 6))
			snprintf(dev, sizeof(dev), "%s/dev/disk/by-label/%s", root, t.spec + 6);
		else
			snprintf(dev, sizeof(dev), "%s%s", root, t.spec);
		if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)) {
			snprintf(s->target_note, sizeof(s->target_note), "%s: no such block device", t.spec);
			return;
		}
		if (!mount_of_dev(st.st_rdev, mnt, sizeof(mnt))) {
			snprintf(s->target_note, sizeof(s->target_note),
				 "%s is not mounted here: free space unknown", t.spec);
			return;
		}
		snprintf(s->dumpdir, sizeof(s->dumpdir), "%.2047s%s", strcmp(mnt, "/") ? mnt : "", t.dir);
	}
	if (statvfs(s->dumpdir, &v) < 0) {
		char *slash;
		/* the directory may not exist yet: its file system is its parent's */
		snprintf(mnt, sizeof(mnt), "%s", s->dumpdir);
		slash = strrchr(mnt, '/');
		if (slash && slash != mnt)
			*slash = 0;
		if (statvfs(mnt, &v) < 0) {
			snprintf(s->target_note, sizeof(s->target_note), "%.200s: %s", s->dumpdir,
				 strerror(errno));
			return;
		}
	}
	s->have_free = true;
	s->free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
}

static void gather(struct status *s, const char *root, const char *kver, const char *conf)
{
	char path[PATH_MAX], *text = NULL;
	struct stat st;
	struct utsname u;

	if (kver)
		snprintf(s->kver, sizeof(s->kver), "%s", kver);
	else if (uname(&u) == 0)
		snprintf(s->kver, sizeof(s->kver), "%s", u.release);
	snprintf(path, sizeof(path), "%s/sys/kernel/kexec_crash_size", root);
	s->have_size = read_line(path, s->size_s, sizeof(s->size_s)) &&
		       parse_u64(s->size_s, &s->crash_size);
	snprintf(path, sizeof(path), "%s/sys/kernel/kexec_crash_loaded", root);
	s->have_loaded = read_line(path, s->loaded_s, sizeof(s->loaded_s));
	s->loaded = !strcmp(s->loaded_s, "1");
	snprintf(s->kernel, sizeof(s->kernel), "%s/boot/vmlinuz-%s", root, s->kver);
	snprintf(s->initrd, sizeof(s->initrd), "%s/boot/salvage-initrd.img-%s", root, s->kver);
	if (stat(s->kernel, &st) == 0 && S_ISREG(st.st_mode)) {
		s->have_kernel = true;
		s->kernel_size = (uint64_t)st.st_size;
	}
	if (stat(s->initrd, &st) == 0 && S_ISREG(st.st_mode)) {
		s->have_initrd = true;
		s->initrd_size = (uint64_t)st.st_size;
	}
	/* without an image yet: the agent and modules make about 3 MiB */
	s->need = az_crash_need(s->kernel_size, s->have_initrd ? s->initrd_size : 3 * MIB);
	s->ram = meminfo(root, "MemTotal");

	if (conf)
		snprintf(s->conf, sizeof(s->conf), "%s", conf);
	else
		snprintf(s->conf, sizeof(s->conf), "%s/etc/salvage/salvage.conf", root);
	cfg_defaults(&s->cfg);
	s->conf_ok = true;
	if (stat(s->conf, &st) == 0) {
		FILE *f = fopen(s->conf, "re");
		size_t n = 0;

		s->conf_exists = true;
		text = f ? malloc(CFG_FILE_MAX + 1) : NULL;
		if (text)
			n = fread(text, 1, CFG_FILE_MAX + 1, f);
		if (!f || !text || ferror(f) || n > CFG_FILE_MAX) {
			s->conf_ok = false;
			s->nbad = -1;
		} else {
			s->nbad = cfg_parse_text(&s->cfg, text, n, NULL, NULL);
			s->conf_ok = s->nbad == 0;
		}
		if (f)
			fclose(f);
		free(text);
	}
	s->level = s->cfg.level;
	s->dump_max = dump_estimate(root, s->level);
	if (s->have_initrd)
		check_image(s);
	check_target(s, root);

	/* the first reason, in the order an administrator fixes them */
	if (!s->conf_ok)
		snprintf(s->why, sizeof(s->why), "%.300s is not valid (salvage config check)", s->conf);
	else if (!s->have_size)
		snprintf(s->why, sizeof(s->why), "this kernel has no kdump support "
			 "(no /sys/kernel/kexec_crash_size)");
	else if (!s->crash_size)
		snprintf(s->why, sizeof(s->why), "no memory is reserved for a crash kernel: "
			 "salvage setup --crashkernel --apply, then reboot");
	else if (!s->have_initrd)
		snprintf(s->why, sizeof(s->why), "no crash initramfs %.300s (systemctl restart salvage)",
			 s->initrd);
	else if (!s->image_ok)
		snprintf(s->why, sizeof(s->why), "the crash initramfs is stale: %s "
			 "(systemctl restart salvage)", s->mismatch);
	else if (!s->loaded)
		snprintf(s->why, sizeof(s->why), "no crash kernel is loaded (systemctl restart salvage)");
}

static void mib(char *out, size_t len, uint64_t v)
{
	if (v >= 1024 * MIB)
		snprintf(out, len, "%.1f GiB", (double)v / (1024.0 * MIB));
	else
		snprintf(out, len, "%.1f MiB", (double)v / MIB);
}

static void print_text(const struct status *s)
{
	char a[32], b[32];

	printf("armed:        %s%s\n", s->why[0] ? "no: " : "yes", s->why);
	printf("kernel:       %s", s->kver);
	if (s->have_kernel) {
		mib(a, sizeof(a), s->kernel_size);
		printf(" (%s, %s)\n", s->kernel, a);
	} else {
		printf(" (no %s)\n", s->kernel);
	}
	if (s->have_initrd) {
		mib(a, sizeof(a), s->initrd_size);
		printf("initramfs:    %s, %s, %s%s\n", s->initrd, a,
		       s->image_ok ? "matches the kernel and configuration" : "stale: ",
		       s->image_ok ? "" : s->mismatch);
	} else {
		printf("initramfs:    none (%s)\n", s->initrd);
	}
	if (s->have_size) {
		mib(a, sizeof(a), s->crash_size);
		mib(b, sizeof(b), s->need);
		printf("reservation:  %s, crash kernel %s; this kernel and image need about %s%s\n",
		       a, s->loaded ? "loaded" : "not loaded", b,
		       s->crash_size && s->crash_size < s->need ? " (warning: too small)" : "");
	} else {
		printf("reservation:  unknown (no /sys/kernel/kexec_crash_size)\n");
	}
	mib(a, sizeof(a), s->ram);
	printf("memory:       %s\n", a);
	printf("config:       %s: %s\n", s->conf, !s->conf_exists ? "absent (defaults)" :
	       s->conf_ok ? "valid" : "refused lines (salvage config check)");
	printf("target:       %s", s->target[0] ? s->target : "(default)");
	if (s->target_note[0])
		printf(": %s", s->target_note);
	printf("\n");
	if (s->have_free) {
		mib(a, sizeof(a), s->free_bytes);
		mib(b, sizeof(b), s->dump_max);
		printf("space:        %s: %s free; a dump at level %llu takes at most %s "
		       "before compression%s\n", s->dumpdir, a, (unsigned long long)s->level, b,
		       s->free_bytes < s->dump_max ? " (warning: may not fit)" : "");
	}
}

static void print_json(const struct status *s)
{
	struct az_json j;

	az_json_init(&j, stdout);
	az_json_begin_object(&j);
	az_json_kbool(&j, "armed", !s->why[0]);
	az_json_kstr(&j, "reason", s->why[0] ? s->why : NULL);
	az_json_kstr(&j, "kernel_release", s->kver);
	az_json_kstr(&j, "kernel", s->have_kernel ? s->kernel : NULL);
	az_json_ku64_if(&j, "kernel_bytes", s->have_kernel, s->kernel_size);
	az_json_kstr(&j, "initramfs", s->have_initrd ? s->initrd : NULL);
	az_json_ku64_if(&j, "initramfs_bytes", s->have_initrd, s->initrd_size);
	az_json_kbool(&j, "initramfs_current", s->have_initrd && s->image_ok);
	az_json_kstr(&j, "initramfs_stale", s->have_initrd && !s->image_ok ? s->mismatch : NULL);
	az_json_ku64_if(&j, "reserved_bytes", s->have_size, s->crash_size);
	az_json_kbool(&j, "loaded", s->loaded);
	az_json_ku64(&j, "needed_bytes", s->need);
	az_json_ku64(&j, "ram_bytes", s->ram);
	az_json_kstr(&j, "config", s->conf);
	az_json_kbool(&j, "config_valid", s->conf_ok);
	az_json_kstr(&j, "target", s->target);
	az_json_kstr(&j, "target_note", s->target_note[0] ? s->target_note : NULL);
	az_json_kstr(&j, "dump_dir", s->have_free ? s->dumpdir : NULL);
	az_json_ku64_if(&j, "free_bytes", s->have_free, s->free_bytes);
	az_json_ku64(&j, "level", s->level);
	az_json_ku64(&j, "dump_max_bytes", s->dump_max);
	az_json_end_object(&j);
	az_json_finish(&j);
}

static const char usage_text[] =
"usage: salvage status [--json] [--kver KVER] [--config FILE] [--root DIR]\n\n"
"Whether a crash would be captured, and if not, why not: the memory reserved\n"
"for the crash kernel (/sys/kernel/kexec_crash_size) against what this kernel\n"
"and its crash initramfs need, whether a crash kernel is loaded, whether the\n"
"crash initramfs was built for the running kernel and holds the configuration,\n"
"and the target's free space against the largest dump at the configured level.\n"
"  --json         one object, for monitoring\n"
"  --kver KVER    the kernel release to check (default: the running one)\n"
"  --config FILE  default /etc/salvage/salvage.conf\n"
"  --root DIR     read /sys, /proc/meminfo, /boot and /etc under DIR (tests)\n"
"Exit status: 0 armed; 1 not armed, or armed with a stale crash initramfs;\n"
"2 usage; 3 the configuration file is refused.\n";

int az_cmd_status(int argc, char **argv)
{
	static struct status s;
	const char *root = "", *kver = NULL, *conf = NULL;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return AZ_EXIT_OK;
		} else if (v && !strcmp(a, "--kver") && *v && !strchr(v, '/')) {
			kver = argv[++i];
		} else if (v && !strcmp(a, "--config")) {
			conf = argv[++i];
		} else if (v && !strcmp(a, "--root")) {
			root = argv[++i];
		} else {
			fprintf(stderr, "salvage status: bad argument '%s'\n%s", a, usage_text);
			return AZ_EXIT_USAGE;
		}
	}
	if (!strcmp(root, "/"))
		root = "";
	memset(&s, 0, sizeof(s));
	gather(&s, root, kver, conf);
	if (json)
		print_json(&s);
	else
		print_text(&s);
	if (fflush(stdout) != 0)
		return AZ_EXIT_FAIL;
	return !s.conf_ok ? EXIT_MISCONFIGURED : s.why[0] ? EXIT_NOT_ARMED : AZ_EXIT_OK;
}
