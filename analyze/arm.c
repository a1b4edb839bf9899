/* arm.c - `salvage arm`: load the crash kernel and its initramfs so that a
 * panic boots them (what `kdumpctl start` / `kdump-config load` do).
 *
 * Native Linux: kexec_file_load(2) with KEXEC_FILE_ON_CRASH, no kexec-tools.
 * The kernel checks the image (and its signature, if enforced) itself.
 * A Xen PV dom0 cannot use it: the crash image belongs to the hypervisor and
 * is loaded through hypercalls, which kexec-tools' `kexec -p` does; arm hands
 * over to it there (tests/vm/xen-e2e.sh runs that flow under QEMU).
 */
#include "../initramfs/initramfs.h"
#include "salvage.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_kexec_file_load
#define SYS_kexec_file_load 320   /* x86_64 */
#endif
#define KEXEC_FILE_UNLOAD       0x1
#define KEXEC_FILE_ON_CRASH     0x2

#define CRASH_SIZE "/sys/kernel/kexec_crash_size"
#define CRASH_LOADED "/sys/kernel/kexec_crash_loaded"
#define DEFAULT_APPEND "nr_cpus=1 reset_devices irqpoll panic=1 nousb"

/* First line of a small sysfs/proc file, or "" . */
static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");

	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* Xen guests other than HVM ones (a PV dom0 above all) load crash kernels
 * through the hypervisor. */
static bool xen_pv(void)
{
	char type[32], guest[32], caps[128];

	read_line("/sys/hypervisor/type", type, sizeof(type));
	if (strcmp(type, "xen"))
		return false;
	read_line("/proc/xen/capabilities", caps, sizeof(caps));
	if (strstr(caps, "control_d"))
		return true;
	read_line("/sys/hypervisor/guest_type", guest, sizeof(guest));
	return strcmp(guest, "HVM") != 0;
}

/* console= words of the running kernel, then the crash kernel's defaults.
 * Under Xen, hvc consoles do not exist once the crash kernel runs natively. */
static void default_cmdline(char *out, size_t len, bool xen, const char *append)
{
	char cur[4096], *p, *save = NULL;
	size_t used = 0;
	bool console = false;

	out[0] = 0;
	read_line("/proc/cmdline", cur, sizeof(cur));
	for (p = strtok_r(cur, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		if (strncmp(p, "console=", 8) && strncmp(p, "earlycon", 8))
			continue;
		if (xen && !strncmp(p, "console=hvc", 11))
			continue;
		console |= !strncmp(p, "console=", 8);
		used += (size_t)snprintf(out + used, len > used ? len - used : 0, "%s ", p);
	}
	if (xen && !console)
		used += (size_t)snprintf(out + used, len > used ? len - used : 0, "console=ttyS0 ");
	snprintf(out + (used < len ? used : len - 1), len > used ? len - used : 1, "%s%s%s",
		 DEFAULT_APPEND, *append ? " " : "", append);
}

static int run_kexec(const char *kexec, char *const *av, bool dry)
{
	pid_t pid;
	int st;

	if (dry) {
		printf("would run:");
		for (char *const *a = av; *a; a++)
			printf(" %s", *a);
		printf("\n");
		return 0;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(kexec, av);
		fprintf(stderr, "salvage arm: %s: %s (install kexec-tools)\n", kexec, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *load_error(int e)
{
	switch (e) {
	case EPERM: return "not permitted (needs root, or kernel lockdown forbids it)";
	case EKEYREJECTED: return "the kernel's signature was rejected (Secure Boot)";
	case ENOEXEC: return "not a bootable kernel image (bzImage) for this kernel";
	case ENOMEM: case EADDRNOTAVAIL:
		return "does not fit in the crashkernel region: reserve more (crashkernel=)";
	case EBUSY: return "a kexec is in progress";
	case ENOSYS: return "kexec_file_load is not available (CONFIG_KEXEC_FILE)";
	default: return strerror(e);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: salvage arm [--kernel PATH] [--initrd PATH] [--cmdline TEXT | --append TEXT]\n"
"       salvage arm --unload\n"
"       salvage arm --status\n\n"
"Load the crash kernel and initramfs to run on a panic (kexec_file_load with\n"
"KEXEC_FILE_ON_CRASH; in a Xen dom0, kexec-tools' kexec -p).\n\n"
"  --kernel PATH    default /boot/vmlinuz-$(uname -r)\n"
"  --initrd PATH    default /boot/salvage-initrd.img-$(uname -r)\n"
"                   (build it with salvage mkinitramfs)\n"
"  --cmdline TEXT   the crash kernel's whole command line\n"
"  --append TEXT    added to the default one: the running kernel's console=\n"
"                   words and \"" DEFAULT_APPEND "\"\n"
"  --unload         unload the crash kernel\n"
"  --status         print the state; exit 0 when loaded, 1 when not\n"
"  --kexec PATH     kexec-tools' kexec for Xen (default: kexec in PATH)\n"
"  --kexec-tools    use kexec -p even outside Xen\n"
"  -n, --dry-run    check and print, load nothing\n");
}

int az_cmd_arm(int argc, char **argv)
{
	enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_APPEND, OPT_UNLOAD, OPT_STATUS, OPT_KEXEC,
	       OPT_TOOLS };
	static const struct option lo[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "unload", no_argument, NULL, OPT_UNLOAD }, { "status", no_argument, NULL, OPT_STATUS },
		{ "kexec", required_argument, NULL, OPT_KEXEC },
		{ "kexec-tools", no_argument, NULL, OPT_TOOLS },
		{ "dry-run", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *append = "";
	const char *kexec = "kexec";
	char kbuf[300], ibuf[300], cbuf[4096], size_s[32], loaded[8];
	bool unload = false, status = false, tools = false, dry = false, xen;
	unsigned long long crash_size;
	struct utsname u;
	int opt, kfd, ifd;
	struct stat ks, is;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "nh", lo, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL: kernel = optarg; break;
		case OPT_INITRD: initrd = optarg; break;
		case OPT_CMDLINE: cmdline = optarg; break;
		case OPT_APPEND: append = optarg; break;
		case OPT_UNLOAD: unload = true; break;
		case OPT_STATUS: status = true; break;
		case OPT_KEXEC: kexec = optarg; break;
		case OPT_TOOLS: tools = true; break;
		case 'n': dry = true; break;
		case 'h': usage(stdout); return AZ_EXIT_OK;
		default: usage(stderr); return AZ_EXIT_USAGE;
		}
	}
	if (optind != argc || (unload && status) || (cmdline && *append)) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	xen = xen_pv();
	tools |= xen;
	read_line(CRASH_SIZE, size_s, sizeof(size_s));
	crash_size = strtoull(size_s, NULL, 10);
	read_line(CRASH_LOADED, loaded, sizeof(loaded));

	if (status) {
		if (tools) {
			char *av[] = { (char *)kexec, "-p", "-S", NULL };
			int rc = run_kexec(kexec, av, dry);
			/* kexec -S exits 1 when the crash image is loaded */
			printf("crash kernel: %s (kexec-tools%s)\n", rc == 1 ? "loaded" :
			       rc == 0 ? "not loaded" : "unknown", xen ? ", Xen" : "");
			return rc == 1 ? AZ_EXIT_OK : AZ_EXIT_FAIL;
		}
		printf("crash kernel: %s\n", !strcmp(loaded, "1") ? "loaded" : "not loaded");
		if (size_s[0])
			printf("reserved:     %llu bytes (%llu MiB)%s\n", crash_size, crash_size >> 20,
			       crash_size ? "" : ": add crashkernel= to the kernel command line");
		else
			printf("reserved:     unknown (no %s: kernel without kdump support)\n",
			       CRASH_SIZE);
		return !strcmp(loaded, "1") ? AZ_EXIT_OK : AZ_EXIT_FAIL;
	}

	if (unload) {
		if (tools) {
			char *av[] = { (char *)kexec, "-p", "-u", NULL };
			int rc = run_kexec(kexec, av, dry);
			if (rc != 0) {
				fprintf(stderr, "salvage arm: kexec -p -u failed (status %d)\n", rc);
				return AZ_EXIT_FAIL;
			}
		} else if (!dry && syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL,
					   KEXEC_FILE_UNLOAD | KEXEC_FILE_ON_CRASH) != 0) {
			fprintf(stderr, "salvage arm: unload: %s\n", load_error(errno));
			return AZ_EXIT_FAIL;
		}
		if (!dry)
			printf("crash kernel unloaded\n");
		return AZ_EXIT_OK;
	}

	if (!tools) {
		if (!size_s[0]) {
			fprintf(stderr, "salvage arm: no %s: this kernel has no kdump support "
				"(CONFIG_CRASH_DUMP)\n", CRASH_SIZE);
			return AZ_EXIT_FAIL;
		}
		if (!crash_size) {
			fprintf(stderr, "salvage arm: no crashkernel memory is reserved (%s is 0): "
				"add crashkernel=256M to the kernel command line and reboot\n",
				CRASH_SIZE);
			return AZ_EXIT_FAIL;
		}
	}
	if (uname(&u) < 0) {
		fprintf(stderr, "salvage arm: uname: %s\n", strerror(errno));
		return AZ_EXIT_FAIL;
	}
	if (!kernel) {
		snprintf(kbuf, sizeof(kbuf), "/boot/vmlinuz-%s", u.release);
		kernel = kbuf;
	}
	if (!initrd) {
		snprintf(ibuf, sizeof(ibuf), "/boot/salvage-initrd.img-%s", u.release);
		initrd = ibuf;
	}
	if (!cmdline) {
		default_cmdline(cbuf, sizeof(cbuf), xen, append);
		cmdline = cbuf;
	}
	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0 || fstat(kfd, &ks) < 0) {
		fprintf(stderr, "salvage arm: kernel %s: %s\n", kernel, strerror(errno));
		return AZ_EXIT_FAIL;
	}
	ifd = open(initrd, O_RDONLY | O_CLOEXEC);
	if (ifd < 0 || fstat(ifd, &is) < 0) {
		fprintf(stderr, "salvage arm: initramfs %s: %s%s\n", initrd, strerror(errno),
			errno == ENOENT ? " (build it with salvage mkinitramfs)" : "");
		close(kfd);
		return AZ_EXIT_FAIL;
	}
	if (!tools && (unsigned long long)(ks.st_size + is.st_size) > crash_size / 2)
		fprintf(stderr, "salvage arm: warning: kernel + initramfs (%llu MiB) use more than "
			"half of the %llu MiB reserved; the crash kernel may run out of memory\n",
			(unsigned long long)(ks.st_size + is.st_size) >> 20, crash_size >> 20);
	if (tools) {
		char ia[320], ca[4200];
		char *av[] = { (char *)kexec, "-p", (char *)kernel, ia, ca, NULL };
		int rc;

		close(kfd);
		close(ifd);
		snprintf(ia, sizeof(ia), "--initrd=%s", initrd);
		snprintf(ca, sizeof(ca), "--append=%s", cmdline);
		rc = run_kexec(kexec, av, dry);
		if (rc != 0) {
			fprintf(stderr, "salvage arm: %s -p failed (status %d)\n", kexec, rc);
			return AZ_EXIT_FAIL;
		}
	} else if (dry) {
		printf("would load %s + %s with kexec_file_load(KEXEC_FILE_ON_CRASH)\n",
		       kernel, initrd);
	} else if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
			   KEXEC_FILE_ON_CRASH) != 0) {
		int e = errno;
		fprintf(stderr, "salvage arm: loading %s + %s: %s\n", kernel, initrd, load_error(e));
		close(kfd);
		close(ifd);
		return AZ_EXIT_FAIL;
	}
	if (kfd >= 0 && !tools) {
		close(kfd);
		close(ifd);
	}
	if (!dry && !tools) {
		read_line(CRASH_LOADED, loaded, sizeof(loaded));
		if (strcmp(loaded, "1")) {
			fprintf(stderr, "salvage arm: loaded, but %s says %s\n", CRASH_LOADED,
				loaded[0] ? loaded : "nothing");
			return AZ_EXIT_FAIL;
		}
	}
	printf("%s %s + %s (%.1f MiB)%s%s\n  command line: %s\n",
	       dry ? "would arm" : "armed:", kernel, initrd,
	       (double)(ks.st_size + is.st_size) / 1048576.0,
	       tools ? " via kexec-tools" : "", xen ? " (Xen)" : "", cmdline);
	return AZ_EXIT_OK;
}
