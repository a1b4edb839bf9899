/* mkinitramfs.c - `salvage mkinitramfs`: the crash kernel's initramfs, built
 * without root and without the host's initramfs tools.
 *
 * Contents (everything 0:0, one mtime):
 *   /init                          the static agent (salvage-capture)
 *   /etc/salvage.conf              its configuration (keys: capture/agent.h)
 *   /lib/modules/KVER/...          the target's modules and their dependencies,
 *                                  decompressed, with a modules.dep for them
 *   /dev/console (c 5 1), /dev, /proc, /sys, /run, /tmp
 *   /bin/sh                        only with --shell
 */
#include "initramfs.h"
#include "kmod.h"
#include "../analyze/salvage.h"
#include "../capture/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define DEFAULT_MODULES "virtio_pci,virtio_blk,virtio_scsi,sd_mod,nvme,ahci"
#define DEFAULT_FS "ext4,xfs"

static const struct {
	const char *name, *kind;
} keys[] = {
#define X(name, kind, def, help) { #name, #kind },
	CAP_AGENT_KEYS(X)
#undef X
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int key_index(const char *k)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, k))
			return (int)i;
	return -1;
}

static bool one_of(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(v, *list))
			return true;
	return false;
}

/* The agent reads these; refuse here what it would ignore after a crash. */
static bool valid(const char *kind, const char *v)
{
	static const char *const codecs[] = { "zstd", "zlib", "lzo", "snappy", "none", NULL };
	static const char *const formats[] = { "kdump", "elf", NULL };
	static const char *const actions[] = { "reboot", "poweroff", "shell", "exit", NULL };
	char *end;

	if (strchr(v, '\n'))
		return false;
	if (!strcmp(kind, "str"))
		return true;
	if (!strcmp(kind, "codec"))
		return one_of(v, codecs);
	if (!strcmp(kind, "format"))
		return one_of(v, formats);
	if (!strcmp(kind, "action"))
		return one_of(v, actions);
	if (!strcmp(kind, "int")) {
		strtol(v, &end, 10);
		return *v && !*end;
	}
	if (*v < '0' || *v > '9')
		return false;
	unsigned long long n = strtoull(v, &end, 0);
	if (!strcmp(kind, "size"))
		return !*end || (strchr("KkMmGgTt", *end) && (!end[1] || !strcmp(end + 1, "B") ||
							     !strcmp(end + 1, "iB")));
	if (*end)
		return false;
	if (!strcmp(kind, "level"))
		return n <= 31;
	return n <= 0xffffffffull;   /* uint, secs */
}

static bool valid_target(const char *t)
{
	if (!strncmp(t, "dir:/", 5))
		return true;
	if (strncmp(t, "disk:", 5))
		return false;
	t += 5;
	return !strncmp(t, "UUID=", 5) || !strncmp(t, "LABEL=", 6) || !strncmp(t, "/dev/", 5);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: salvage mkinitramfs -o OUT --target TARGET [options]\n\n"
"Build the crash kernel's initramfs: the static agent as /init, its\n"
"configuration and the kernel modules the target needs.\n\n"
"  -o, --output OUT        image to write (replaced atomically)\n"
"  --target TARGET         disk:UUID=...|LABEL=...|/dev/...[:DIR] (DIR default\n"
"                          /var/crash) or dir:PATH\n"
"  --kver KVER             kernel release (default: the running kernel's)\n"
"  --moddir ROOT           ROOT/lib/modules/KVER holds the modules (default /)\n"
"  --level N               dump level 0-31 (default 31)\n"
"  --codec C               zstd, zlib, lzo, snappy, none (default zstd)\n"
"  --format F              kdump or elf (default kdump)\n"
"  --action A              after capture: reboot, poweroff, shell (default reboot)\n"
"  --failure-action A      after a failure (default reboot)\n"
"  --keep N                keep at most N dumps (0: all)\n"
"  --minfree SIZE          prune old dumps until SIZE is free (K/M/G)\n"
"  --timeout S             watchdog for the whole capture (default 3600)\n"
"  --wait S                wait for the target device (default 60)\n"
"  --hostname NAME         directory name prefix (default: the crashed kernel's)\n"
"  --set KEY=VALUE         any key of the agent's configuration\n"
"  --modules LIST          storage drivers (default " DEFAULT_MODULES ")\n"
"  --add-modules LIST      more modules, e.g. megaraid_sas,mpt3sas\n"
"  --fs LIST               file system modules (default " DEFAULT_FS ")\n"
"  --agent PATH            agent binary (default: salvage-capture next to salvage)\n"
"  --shell PATH            add a static shell as /bin/sh (for --action shell)\n"
"  --compress C            zstd, gzip or none (default zstd)\n"
"  -q, --quiet             print nothing on success\n\n"
"Modules come from modules.dep with their dependencies; built-in ones are\n"
"skipped.  The image is reproducible: sorted, mtime 0 (or SOURCE_DATE_EPOCH).\n");
}

static int die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "salvage mkinitramfs: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return AZ_EXIT_FAIL;
}

/* Add every module of a comma separated list; explicit ones must exist. */
static int want_list(struct az_modtree *t, const char *list, bool required, char *builtin,
		     size_t blen, char *absent, size_t alen)
{
	char *copy = strdup(list), *p, *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (p = strtok_r(copy, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
		int r = az_modtree_want(t, p);

		if (r == 1) {
			size_t u = strlen(builtin);
			snprintf(builtin + u, blen - u, "%s%s", u ? " " : "", p);
		} else if (r < 0 && required) {
			fprintf(stderr, "salvage mkinitramfs: module %s: not in %s/modules.dep "
				"and not built in\n", p, az_modtree_dir(t));
			rc = r;
		} else if (r < 0) {
			size_t u = strlen(absent);
			snprintf(absent + u, alen - u, "%s%s", u ? " " : "", p);
		}
	}
	free(copy);
	return rc;
}

static int add_static(struct az_cpio *c, const char *path, const char *src, const char *what)
{
	void *data;
	size_t len;
	int rc = kmod_read_file(src, (size_t)256 << 20, &data, &len);

	if (rc < 0)
		return die("%s: %s", src, strerror(-rc));
	rc = az_elf_is_dynamic(data, len);
	if (rc != 0) {
		free(data);
		fprintf(stderr, "salvage mkinitramfs: %s: %s %s (the image has no C library)\n",
			src, what, rc > 0 ? "is dynamically linked" : "is not an x86_64 ELF program");
		return AZ_EXIT_FAIL;
	}
	if (az_cpio_add_data(c, path, 0755, data, len) < 0)
		return die("%s: %s", path, "out of memory");
	return 0;
}

int az_cmd_mkinitramfs(int argc, char **argv)
{
	enum { OPT_KVER = 256, OPT_MODDIR, OPT_TARGET, OPT_LEVEL, OPT_CODEC, OPT_FORMAT, OPT_ACTION,
	       OPT_FACTION, OPT_KEEP, OPT_MINFREE, OPT_TIMEOUT, OPT_WAIT, OPT_HOST, OPT_SET, OPT_MODULES,
	       OPT_ADDMOD, OPT_FS, OPT_AGENT, OPT_SHELL, OPT_COMPRESS };
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' }, { "kver", required_argument, NULL, OPT_KVER },
		{ "moddir", required_argument, NULL, OPT_MODDIR }, { "target", required_argument, NULL, OPT_TARGET },
		{ "level", required_argument, NULL, OPT_LEVEL }, { "codec", required_argument, NULL, OPT_CODEC },
		{ "format", required_argument, NULL, OPT_FORMAT }, { "action", required_argument, NULL, OPT_ACTION },
		{ "failure-action", required_argument, NULL, OPT_FACTION },
		{ "keep", required_argument, NULL, OPT_KEEP }, { "minfree", required_argument, NULL, OPT_MINFREE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT }, { "wait", required_argument, NULL, OPT_WAIT },
		{ "hostname", required_argument, NULL, OPT_HOST }, { "set", required_argument, NULL, OPT_SET },
		{ "modules", required_argument, NULL, OPT_MODULES },
		{ "add-modules", required_argument, NULL, OPT_ADDMOD }, { "fs", required_argument, NULL, OPT_FS },
		{ "agent", required_argument, NULL, OPT_AGENT }, { "shell", required_argument, NULL, OPT_SHELL },
		{ "compress", required_argument, NULL, OPT_COMPRESS }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const optkey[] = {
		[OPT_TARGET - OPT_KVER] = "target", [OPT_LEVEL - OPT_KVER] = "level",
		[OPT_CODEC - OPT_KVER] = "codec", [OPT_FORMAT - OPT_KVER] = "format",
		[OPT_ACTION - OPT_KVER] = "action", [OPT_FACTION - OPT_KVER] = "failure_action",
		[OPT_KEEP - OPT_KVER] = "keep", [OPT_MINFREE - OPT_KVER] = "minfree",
		[OPT_TIMEOUT - OPT_KVER] = "timeout", [OPT_WAIT - OPT_KVER] = "wait",
		[OPT_HOST - OPT_KVER] = "hostname",
	};
	const char *out = NULL, *kver = NULL, *root = "/", *agent = NULL, *shell = NULL;
	const char *modules = DEFAULT_MODULES, *addmod = "", *fs = DEFAULT_FS;
	const char *val[NKEYS] = { 0 };
	enum az_cpio_codec codec = AZ_CPIO_ZSTD;
	char agent_buf[PATH_MAX], tmp[PATH_MAX + 16], err[512], builtin[512] = "", absent[512] = "";
	char list[2048], *conf = NULL;
	struct utsname u;
	struct az_modtree *mt = NULL;
	struct az_cpio *c = NULL;
	uint64_t raw = 0, size = 0, modbytes = 0;
	unsigned nmod = 0;
	uint32_t mtime = 0;
	bool quiet = false, modules_set = false, fs_set = false;
	static char storage[2048];
	int opt, rc = AZ_EXIT_FAIL, fd = -1;
	size_t clen = 0;
	FILE *cf;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return AZ_EXIT_OK;
		case OPT_KVER: kver = optarg; break;
		case OPT_MODDIR: root = optarg; break;
		case OPT_MODULES: modules = optarg; modules_set = true; break;
		case OPT_ADDMOD: addmod = optarg; break;
		case OPT_FS: fs = optarg; fs_set = true; break;
		case OPT_AGENT: agent = optarg; break;
		case OPT_SHELL: shell = optarg; break;
		case OPT_COMPRESS:
			if (!strcmp(optarg, "zstd")) codec = AZ_CPIO_ZSTD;
			else if (!strcmp(optarg, "gzip")) codec = AZ_CPIO_GZIP;
			else if (!strcmp(optarg, "none")) codec = AZ_CPIO_NONE;
			else return die("--compress %s: use zstd, gzip or none%s", optarg, ""), AZ_EXIT_USAGE;
			break;
		case OPT_SET: {
			char *eq = strchr(optarg, '=');
			int k;
			if (!eq)
				return die("--set %s: not KEY=VALUE%s", optarg, ""), AZ_EXIT_USAGE;
			*eq = 0;
			k = key_index(optarg);
			if (k < 0)
				return die("--set %s: unknown key (see salvage-capture --help)%s",
					   optarg, ""), AZ_EXIT_USAGE;
			val[k] = eq + 1;
			break;
		}
		default:
			if (opt >= OPT_TARGET && opt <= OPT_HOST) {
				val[key_index(optkey[opt - OPT_KVER])] = optarg;
				break;
			}
			usage(stderr);
			return AZ_EXIT_USAGE;
		}
	}
	if (!out || optind != argc || !val[key_index("target")]) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (val[i] && !valid(keys[i].kind, val[i]))
			return die("%s: bad value '%s'", keys[i].name, val[i]), AZ_EXIT_USAGE;
	if (!valid_target(val[key_index("target")]))
		return die("--target %s: expected disk:UUID=...|LABEL=...|/dev/...[:DIR] or "
			   "dir:PATH%s", val[key_index("target")], ""), AZ_EXIT_USAGE;
	if (!kver) {
		if (uname(&u) < 0)
			return die("uname: %s%s", strerror(errno), "");
		kver = u.release;
	}
	if (strchr(kver, '/') || !*kver)
		return die("--kver %s: not a kernel release%s", kver, ""), AZ_EXIT_USAGE;
	if (!agent) {
		ssize_t n = readlink("/proc/self/exe", agent_buf, sizeof(agent_buf) - 32);
		if (n < 0)
			return die("cannot find salvage-capture (use --agent)%s%s", "", "");
		agent_buf[n] = 0;
		snprintf(agent_buf + strlen(dirname(agent_buf)), 32, "/salvage-capture");
		agent = agent_buf;
	}
	if (getenv("SOURCE_DATE_EPOCH"))
		mtime = (uint32_t)strtoul(getenv("SOURCE_DATE_EPOCH"), NULL, 10);

	c = az_cpio_create();
	if (!c)
		return die("out of memory%s%s", "", "");
	if ((rc = add_static(c, "/init", agent, "the agent")) != 0)
		goto out;
	rc = AZ_EXIT_FAIL;
	if (shell && add_static(c, "/bin/sh", shell, "the shell") != 0)
		goto out;
	if (az_modtree_open(root, kver, &mt, err, sizeof(err)) < 0) {
		die("%s%s", err, "");
		goto out;
	}
	if (want_list(mt, modules, modules_set, builtin, sizeof(builtin), absent, sizeof(absent)) < 0 ||
	    want_list(mt, addmod, true, builtin, sizeof(builtin), absent, sizeof(absent)) < 0 ||
	    want_list(mt, fs, fs_set, builtin, sizeof(builtin), absent, sizeof(absent)) < 0)
		goto out;
	if (az_modtree_stage(mt, c, list, sizeof(list), &nmod, &modbytes, err, sizeof(err)) < 0) {
		die("%s%s", err, "");
		goto out;
	}
	/* the load list names storage drivers only: file systems load on demand */
	{
		char *copy = strdup(list), *p, *save = NULL;
		char fsl[256];
		snprintf(fsl, sizeof(fsl), ",%s,", fs);
		for (p = copy ? strtok_r(copy, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
			char pat[80];
			snprintf(pat, sizeof(pat), ",%s,", p);
			if (!strstr(fsl, pat)) {
				size_t used = strlen(storage);
				snprintf(storage + used, sizeof(storage) - used, "%s%s", used ? "," : "", p);
			}
		}
		free(copy);
		if (!val[key_index("modules")])
			val[key_index("modules")] = storage;
	}
	val[key_index("kver")] = kver;
	/* spell out the defaults that matter, so the image says what it will do */
	{
		static const char *const shown[] = { "format", "level", "codec", "action",
						     "failure_action", "timeout", "wait", NULL };
#define X(name, kind, def, help) \
		for (int i = 0; shown[i]; i++) \
			if (!strcmp(shown[i], #name) && !val[key_index(#name)]) \
				val[key_index(#name)] = def;
		CAP_AGENT_KEYS(X)
#undef X
	}

	cf = open_memstream(&conf, &clen);
	if (!cf)
		goto out;
	fprintf(cf, "# salvage-capture configuration, written by salvage mkinitramfs.\n"
		    "# Override any key on the crash kernel's command line: salvage.KEY=VALUE\n");
	for (size_t i = 0; i < NKEYS; i++)
		if (val[i])
			fprintf(cf, "%s=%s\n", keys[i].name, val[i]);
	fclose(cf);
	if (az_cpio_add_data(c, CAP_AGENT_CONFIG, 0644, conf, clen) < 0 ||
	    az_cpio_add_node(c, "/dev/console", S_IFCHR | 0600, 5, 1) < 0 ||
	    az_cpio_add_dir(c, "/proc", 0755) < 0 || az_cpio_add_dir(c, "/sys", 0755) < 0 ||
	    az_cpio_add_dir(c, "/run", 0755) < 0 || az_cpio_add_dir(c, "/tmp", 01777) < 0) {
		die("out of memory%s%s", "", "");
		goto out;
	}

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out);
	fd = mkstemp(tmp);
	if (fd < 0) {
		die("%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (az_cpio_write(c, fd, codec, mtime, &raw, &size, err, sizeof(err)) < 0 ||
	    fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		die("%s: %s", out, err[0] ? err : strerror(errno));
		unlink(tmp);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, out) < 0) {
		die("%s: %s", out, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (!quiet) {
		printf("%s: %.1f MiB (%s; %.1f MiB unpacked, %zu entries) for %s\n", out,
		       size / 1048576.0, codec == AZ_CPIO_ZSTD ? "zstd" : codec == AZ_CPIO_GZIP
		       ? "gzip" : "uncompressed", raw / 1048576.0, az_cpio_count(c), kver);
		printf("  target:  %s\n", val[key_index("target")]);
		printf("  modules: %u files, %.1f MiB: %s\n", nmod, modbytes / 1048576.0,
		       list[0] ? list : "none");
		if (builtin[0])
			printf("  built in: %s\n", builtin);
		if (absent[0])
			printf("  not in this kernel: %s\n", absent);
	}
	rc = AZ_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	az_modtree_close(mt);
	az_cpio_destroy(c);
	return rc;
}
