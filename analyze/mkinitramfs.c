/* mkinitramfs.c - `salvage mkinitramfs`: the crash kernel's initramfs, built
 * without root and without the host's initramfs tools.
 *
 * Contents (everything 0:0, one mtime):
 *   /init                          the static agent (salvage-capture)
 *   /etc/salvage.conf              its configuration (keys: config/config.h)
 *   /lib/modules/KVER/...          the target's modules and their dependencies,
 *                                  decompressed, with a modules.dep for them
 *   /dev/console (c 5 1), /dev, /proc, /sys, /run, /tmp
 *   /bin/sh                        only with --shell
 */
#include "salvage.h"
#include "../initramfs/initramfs.h"
#include "../config/config.h"
#include "../config/strbuf.h"
#include "../kmod/kmod.h"
#include "../net/net.h"

#include <dirent.h>
#include <errno.h>
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
#define DEFAULT_NET_MODULES "virtio_net,e1000,e1000e"
#define NET_KEY_PATH "/etc/salvage/agent.key"
#define NET_RX_PATH "/etc/salvage/receiver.pub"
#define SEAL_PATH "/etc/salvage/seal.pub"

/* The image's configuration: the values, and which keys the file spells out. */
struct conf {
	struct cfg cfg;
	bool write[64];
};

static int key_index(const char *k)
{
	size_t n;
	const struct cfg_key *keys = cfg_keys(&n);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].name, k))
			return (int)i;
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: salvage mkinitramfs -o OUT --target TARGET [options]\n\n"
"Build the crash kernel's initramfs: the static agent as /init, its\n"
"configuration and the kernel modules the target needs.\n\n"
"  -o, --output OUT        image to write (replaced atomically)\n"
"  --target TARGET         disk:UUID=...|LABEL=...|/dev/...[:DIR] (DIR default\n"
"                          /var/crash), dir:PATH or net:ADDR:PORT; a comma\n"
"                          list is tried in order (net:...,disk:LABEL=...)\n"
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
"  --net                   network target (implied by --target net:...): NIC\n"
"                          drivers (this machine's, virtio_pci and\n"
"                          " DEFAULT_NET_MODULES ") with their modules.alias\n"
"                          lines, and the keys below\n"
"  --key FILE              the agent's private key (salvage keygen), as " NET_KEY_PATH "\n"
"  --receiver-key FILE     the receiver's public key, as " NET_RX_PATH "\n"
"  --net-modules LIST      more NIC drivers\n"
"  --seal-to FILE          seal dumps to this public key (.pub), as " SEAL_PATH "\n"
"  --agent PATH            agent binary (default: salvage-capture next to salvage)\n"
"  --shell PATH            add a static shell as /bin/sh (for --action shell)\n"
"  --compress C            zstd, gzip or none (default zstd)\n"
"  -q, --quiet             print nothing on success\n\n"
"       salvage mkinitramfs --check-config IMAGE\n\n"
"Print the configuration the agent in IMAGE will run with (before\n"
"salvage.KEY=VALUE words of the crash kernel's command line), and the\n"
"values it would refuse.  Values are checked as the agent checks them:\n"
"salvage-capture --init --help lists the keys and their ranges.\n\n"
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

/* Set a key as the agent would, refusing what it would refuse, with its
 * message. */
static int set_key(struct conf *c, const char *key, const char *value)
{
	char why[256];
	int k = key_index(key);

	if (k < 0 || (size_t)k >= sizeof(c->write) / sizeof(c->write[0])) {
		die("--set %s: unknown key (see salvage-capture --init --help)%s", key, "");
		return AZ_EXIT_USAGE;
	}
	if (cfg_set(&c->cfg, key, value, why, sizeof(why)) < 0) {
		die("%s%s", why, "");
		return AZ_EXIT_USAGE;
	}
	c->write[k] = true;
	return 0;
}

/* --check-config: the agent's parser on the image's etc/salvage.conf. */
static int check_config(const char *image)
{
	struct cfg c;
	char *text, err[512];
	size_t len;
	int nbad;

	if (irfs_image_read(image, "etc/salvage.conf", &text, &len, err, sizeof(err)) < 0)
		return die("%s%s", err, "");
	cfg_defaults(&c);
	nbad = cfg_parse_text(&c, text, len, cfg_print_error, stdout);
	free(text);
	cfg_print(&c, stdout);
	return nbad ? AZ_EXIT_FAIL : AZ_EXIT_OK;
}

/* --net: both key files must be what the agent will read. */
static int net_files(const char *key, const char *rx)
{
	struct net_keypair kp;
	struct net_pubkey pk;
	char err[NET_ERR_MAX];

	if (!key || !rx)
		return die("a net: target needs --key FILE and --receiver-key FILE%s%s", "", ""),
		       AZ_EXIT_USAGE;
	if (net_init() < 0 || net_key_load(key, &kp, err, sizeof(err)) < 0 ||
	    net_pubkey_load(rx, &pk, err, sizeof(err)) < 0)
		return die("%s%s", err, "");
	sodium_memzero(&kp, sizeof(kp));
	return AZ_EXIT_OK;
}

/* The NIC drivers: the defaults, this machine's (what its interfaces are
 * bound to) and extra. */
static int nic_list(const char *extra, struct strbuf *out)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	char path[PATH_MAX], link[PATH_MAX];

	strbuf_puts(out, DEFAULT_NET_MODULES);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver/module", e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		const char *name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		char want[300];
		snprintf(want, sizeof(want), ",%.200s,", name);
		char have[4096];
		snprintf(have, sizeof(have), ",%s,", out->s ? out->s : "");
		if (!strstr(have, want))
			strbuf_printf(out, ",%s", name);
	}
	if (d)
		closedir(d);
	if (extra[0])
		strbuf_printf(out, ",%s", extra);
	return out->failed ? -ENOMEM : 0;
}

/* Is module (either '-' or '_' spelling) in the comma list? */
static bool in_list(const char *list, const char *mod, size_t n)
{
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (k == n) {
			size_t i = 0;
			for (; i < n; i++) {
				char a = p[i] == '-' ? '_' : p[i], b = mod[i] == '-' ? '_' : mod[i];
				if (a != b)
					break;
			}
			if (i == n)
				return true;
		}
		p += k + (p[k] == ',');
	}
	return false;
}

/* --net: the keys, and the modules.alias lines of the NIC drivers in the
 * image (the agent finds a NIC's driver from its modalias). */
static int net_stage(struct irfs_cpio *c, struct irfs_modtree *mt, const char *kver,
		     const char *nics, const char *staged, const char *key, const char *rx,
		     char *err, size_t errlen)
{
	char path[PATH_MAX], dst[300];
	struct strbuf a = { 0 };
	void *data = NULL;
	size_t len = 0;

	if (irfs_cpio_add_dir(c, "/etc/salvage", 0755) < 0 ||
	    irfs_cpio_add_file(c, NET_KEY_PATH, 0600, key, err, errlen) < 0 ||
	    irfs_cpio_add_file(c, NET_RX_PATH, 0644, rx, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/modules.alias", irfs_modtree_dir(mt));
	if (kmod_read_file(path, 64u << 20, &data, &len) < 0) {
		snprintf(err, errlen, "%.400s: cannot read", path);
		return -1;
	}
	for (char *line = data, *end = (char *)data + len; line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
		const char *mod = line + ll;
		while (mod > line && mod[-1] != ' ')
			mod--;
		size_t mn = (size_t)(line + ll - mod);
		if (ll > 6 && !strncmp(line, "alias ", 6) && mn &&
		    (in_list(nics, mod, mn) || in_list("virtio_pci", mod, mn)) &&
		    in_list(staged, mod, mn)) {
			strbuf_add(&a, line, ll);
			strbuf_add(&a, "\n", 1);
		}
		line += ll + 1;
	}
	free(data);
	if (a.failed) {
		free(a.s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(dst, sizeof(dst), "/lib/modules/%s/modules.alias", kver);
	if (irfs_cpio_add_data(c, dst, 0644, a.s ? a.s : strdup(""), a.len) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int az_cmd_mkinitramfs(int argc, char **argv)
{
	enum { OPT_KVER = 256, OPT_MODDIR, OPT_TARGET, OPT_LEVEL, OPT_CODEC, OPT_FORMAT, OPT_ACTION,
	       OPT_FACTION, OPT_KEEP, OPT_MINFREE, OPT_TIMEOUT, OPT_WAIT, OPT_HOST, OPT_SET, OPT_MODULES,
	       OPT_ADDMOD, OPT_FS, OPT_AGENT, OPT_SHELL, OPT_COMPRESS, OPT_CHECK, OPT_NET, OPT_NETKEY,
	       OPT_RXKEY, OPT_NETMOD, OPT_SEAL };
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
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "check-config", required_argument, NULL, OPT_CHECK }, { "quiet", no_argument, NULL, 'q' },
		{ "net", no_argument, NULL, OPT_NET }, { "key", required_argument, NULL, OPT_NETKEY },
		{ "receiver-key", required_argument, NULL, OPT_RXKEY },
		{ "net-modules", required_argument, NULL, OPT_NETMOD },
		{ "seal-to", required_argument, NULL, OPT_SEAL },
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
	/* spelled out even at their defaults, so the image says what it will do */
	static const char *const shown[] = { "format", "level", "codec", "action",
					     "failure_action", "timeout", "wait", NULL };
	const char *out = NULL, *kver = NULL, *root = "/", *agent = NULL, *shell = NULL;
	const char *modules = DEFAULT_MODULES, *addmod = "", *fs = DEFAULT_FS;
	static struct conf conf;
	enum irfs_cpio_codec codec = IRFS_CPIO_ZSTD;
	char agent_buf[PATH_MAX], err[512], list[CFG_LINE_MAX + 1];
	struct strbuf builtin = { 0 }, absent = { 0 }, storage = { 0 }, text = { 0 };
	struct utsname u;
	struct irfs_modtree *mt = NULL;
	struct irfs_cpio *c = NULL;
	uint64_t raw = 0, size = 0, modbytes = 0;
	unsigned nmod = 0;
	uint32_t mtime = 0;
	bool quiet = false, modules_set = false, fs_set = false, net = false;
	const char *netkey = NULL, *rxkey = NULL, *netmod = "", *seal = NULL;
	struct strbuf nics = { 0 };
	int opt, rc = AZ_EXIT_FAIL;

	memset(&conf, 0, sizeof(conf));
	cfg_defaults(&conf.cfg);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return AZ_EXIT_OK;
		case OPT_CHECK: return check_config(optarg);
		case OPT_KVER: kver = optarg; break;
		case OPT_MODDIR: root = optarg; break;
		case OPT_MODULES: modules = optarg; modules_set = true; break;
		case OPT_ADDMOD: addmod = optarg; break;
		case OPT_FS: fs = optarg; fs_set = true; break;
		case OPT_AGENT: agent = optarg; break;
		case OPT_NET: net = true; break;
		case OPT_NETKEY: netkey = optarg; break;
		case OPT_RXKEY: rxkey = optarg; break;
		case OPT_NETMOD: netmod = optarg; break;
		case OPT_SEAL: seal = optarg; break;
		case OPT_SHELL: shell = optarg; break;
		case OPT_COMPRESS:
			if (!strcmp(optarg, "zstd")) codec = IRFS_CPIO_ZSTD;
			else if (!strcmp(optarg, "gzip")) codec = IRFS_CPIO_GZIP;
			else if (!strcmp(optarg, "none")) codec = IRFS_CPIO_NONE;
			else return die("--compress %s: use zstd, gzip or none%s", optarg, ""), AZ_EXIT_USAGE;
			break;
		case OPT_SET: {
			char *eq = strchr(optarg, '=');
			if (!eq)
				return die("--set %s: not KEY=VALUE%s", optarg, ""), AZ_EXIT_USAGE;
			*eq = 0;
			if ((rc = set_key(&conf, optarg, eq + 1)) != 0)
				return rc;
			break;
		}
		default:
			if (opt >= OPT_TARGET && opt <= OPT_HOST) {
				if ((rc = set_key(&conf, optkey[opt - OPT_KVER], optarg)) != 0)
					return rc;
				break;
			}
			usage(stderr);
			return AZ_EXIT_USAGE;
		}
	}
	rc = AZ_EXIT_FAIL;
	if (!out || optind != argc || !conf.write[key_index("target")]) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	if (!conf.cfg.target[0])
		return die("--target: empty (expected disk:UUID=...|LABEL=...|/dev/...[:DIR] or "
			   "dir:PATH)%s%s", "", ""), AZ_EXIT_USAGE;
	if (!kver) {
		if (uname(&u) < 0)
			return die("uname: %s%s", strerror(errno), "");
		kver = u.release;
	}
	if (strstr(conf.cfg.target, "net:"))
		net = true;
	if (net && (rc = net_files(netkey, rxkey)) != AZ_EXIT_OK)
		return rc;
	if (seal) {
		struct net_pubkey spk;
		char serr[NET_ERR_MAX];
		if (net_init() < 0 || net_pubkey_load(seal, &spk, serr, sizeof(serr)) < 0)
			return die("--seal-to: %s%s", serr, "");
		if ((rc = set_key(&conf, "seal_to", SEAL_PATH)) != 0)
			return rc;
	}
	rc = AZ_EXIT_FAIL;
	if (strchr(kver, '/') || !*kver)
		return die("--kver %s: not a kernel release%s", kver, ""), AZ_EXIT_USAGE;
	if (set_key(&conf, "kver", kver) != 0)
		return AZ_EXIT_USAGE;
	for (int i = 0; shown[i]; i++)
		conf.write[key_index(shown[i])] = true;
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

	c = irfs_cpio_create();
	if (!c)
		return die("out of memory%s%s", "", "");
	if (irfs_add_static(c, "/init", agent, "the agent", err, sizeof(err)) < 0 ||
	    (shell && irfs_add_static(c, "/bin/sh", shell, "the shell", err, sizeof(err)) < 0) ||
	    irfs_modtree_open(root, kver, &mt, err, sizeof(err)) < 0 ||
	    irfs_want_list(mt, modules, modules_set, &builtin, &absent, err, sizeof(err)) < 0 ||
	    irfs_want_list(mt, addmod, true, &builtin, &absent, err, sizeof(err)) < 0 ||
	    irfs_want_list(mt, fs, fs_set, &builtin, &absent, err, sizeof(err)) < 0 ||
	    (net && (nic_list(netmod, &nics) < 0 ||
		     irfs_want_list(mt, nics.s, false, &builtin, &absent, err, sizeof(err)) < 0)) ||
	    irfs_modtree_stage(mt, c, list, sizeof(list), &nmod, &modbytes, err, sizeof(err)) < 0) {
		if (nics.failed)
			snprintf(err, sizeof(err), "out of memory");
		die("%s%s", err, "");
		goto out;
	}
	if (seal && ((!net && irfs_cpio_add_dir(c, "/etc/salvage", 0755) < 0) ||
		     irfs_cpio_add_file(c, SEAL_PATH, 0644, seal, err, sizeof(err)) < 0)) {
		die("%s%s", err, "");
		goto out;
	}
	if (net && (net_stage(c, mt, kver, nics.s, list, netkey, rxkey, err, sizeof(err)) < 0 ||
		    (!conf.write[key_index("net_modules")] &&
		     set_key(&conf, "net_modules", nics.s) != 0))) {
		if (err[0])
			die("%s%s", err, "");
		goto out;
	}
	/* the load list names storage drivers only: file systems load on demand */
	if (!conf.write[key_index("modules")]) {
		/* NIC drivers load by modalias, when a net: target is tried */
		struct strbuf skip = { 0 };
		strbuf_puts(&skip, fs);
		if (net)
			strbuf_printf(&skip, ",%s", nics.s);
		if (skip.failed || irfs_storage_list(list, skip.s, &storage) < 0) {
			die("out of memory%s%s", "", "");
			goto out;
		}
		free(skip.s);
		if (set_key(&conf, "modules", storage.s) != 0)
			goto out;
	}
	if (irfs_config_text(&conf.cfg, conf.write, &text) < 0) {
		die("out of memory%s%s", "", "");
		goto out;
	}
	if (irfs_cpio_add_data(c, CFG_PATH, 0644, text.s, text.len) < 0 ||
	    irfs_cpio_add_node(c, "/dev/console", S_IFCHR | 0600, 5, 1) < 0 ||
	    irfs_cpio_add_dir(c, "/proc", 0755) < 0 || irfs_cpio_add_dir(c, "/sys", 0755) < 0 ||
	    irfs_cpio_add_dir(c, "/run", 0755) < 0 || irfs_cpio_add_dir(c, "/tmp", 01777) < 0) {
		text.s = NULL;   /* irfs_cpio_add_data owns it, added or not */
		die("out of memory%s%s", "", "");
		goto out;
	}
	text.s = NULL;
	if (irfs_write_image(c, out, codec, mtime, &raw, &size, err, sizeof(err)) < 0) {
		die("%s%s", err, "");
		goto out;
	}
	if (!quiet) {
		printf("%s: %.1f MiB (%s; %.1f MiB unpacked, %zu entries) for %s\n", out,
		       size / 1048576.0, codec == IRFS_CPIO_ZSTD ? "zstd" : codec == IRFS_CPIO_GZIP
		       ? "gzip" : "uncompressed", raw / 1048576.0, irfs_cpio_count(c), kver);
		printf("  target:  %s\n", conf.cfg.target);
		printf("  modules: %u files, %.1f MiB: %s\n", nmod, modbytes / 1048576.0,
		       list[0] ? list : "none");
		if (builtin.len)
			printf("  built in: %s\n", builtin.s);
		if (absent.len)
			printf("  not in this kernel: %s\n", absent.s);
	}
	rc = AZ_EXIT_OK;
out:
	free(builtin.s);
	free(absent.s);
	free(storage.s);
	free(nics.s);
	free(text.s);
	irfs_modtree_close(mt);
	irfs_cpio_destroy(c);
	return rc;
}
