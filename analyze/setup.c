/* setup.c - `salvage setup --crashkernel`: the reservation to put on the
 * kernel command line, and with --apply a grub drop-in that adds it.
 *
 * The figure is az_crash_need (status.c) for the kernel and its crash
 * initramfs: one fixed size, not a RAM-dependent range, since the agent's
 * memory does not grow with the memory it dumps (bitmaps go cyclic).
 */
#include "salvage.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define GRUB_DROPIN "/etc/default/grub.d/salvage.cfg"

static const char usage_text[] =
"usage: salvage setup --crashkernel [--apply] [--kver KVER] [--root DIR]\n\n"
"Print the crashkernel= reservation this kernel and its crash initramfs need\n"
"(one size for any amount of RAM).\n"
"  --apply        write it to " GRUB_DROPIN " and run update-grub;\n"
"                 it takes effect at the next boot\n"
"  --kver KVER    the kernel release (default: the running one)\n"
"  --root DIR     read /boot and write the drop-in under DIR; update-grub\n"
"                 is not run (tests, images)\n";

static uint64_t file_size(const char *path, bool *have)
{
	struct stat st;

	*have = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	return *have ? (uint64_t)st.st_size : 0;
}

/* Write text to path through a temporary file and rename. */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;
	int e = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		e = errno ? errno : EIO;
	if (fclose(f) != 0 && !e)
		e = errno ? errno : EIO;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e)
		unlink(tmp);
	return -e;
}

static int run_update_grub(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("update-grub", "update-grub", (char *)NULL);
		fprintf(stderr, "salvage setup: update-grub: %s (is grub installed?)\n",
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int az_cmd_setup(int argc, char **argv)
{
	const char *root = "", *kver = NULL;
	bool crashkernel = false, apply = false, have_k, have_i;
	char kernel[PATH_MAX], initrd[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], text[512], cur[4096];
	uint64_t need, ksize, isize;
	struct utsname u;
	FILE *f;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--crashkernel")) {
			crashkernel = true;
		} else if (!strcmp(a, "--apply")) {
			apply = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return AZ_EXIT_OK;
		} else if (v && !strcmp(a, "--kver") && *v && !strchr(v, '/')) {
			kver = argv[++i];
		} else if (v && !strcmp(a, "--root")) {
			root = argv[++i];
		} else {
			fprintf(stderr, "salvage setup: bad argument '%s'\n%s", a, usage_text);
			return AZ_EXIT_USAGE;
		}
	}
	if (!crashkernel) {
		fputs(usage_text, stderr);
		return AZ_EXIT_USAGE;
	}
	if (!strcmp(root, "/"))
		root = "";
	if (!kver) {
		if (uname(&u) < 0) {
			fprintf(stderr, "salvage setup: uname: %s\n", strerror(errno));
			return AZ_EXIT_FAIL;
		}
		kver = u.release;
	}
	snprintf(kernel, sizeof(kernel), "%s/boot/vmlinuz-%s", root, kver);
	snprintf(initrd, sizeof(initrd), "%s/boot/salvage-initrd.img-%s", root, kver);
	ksize = file_size(kernel, &have_k);
	isize = file_size(initrd, &have_i);
	if (!have_k) {
		fprintf(stderr, "salvage setup: no %s: the figure needs the kernel image\n", kernel);
		return AZ_EXIT_FAIL;
	}
	/* without an image yet: the agent and modules make about 3 MiB */
	need = az_crash_need(ksize, have_i ? isize : 3u << 20);
	if (!apply) {
		printf("crashkernel=%lluM\n", (unsigned long long)(need >> 20));
		return fflush(stdout) == 0 ? AZ_EXIT_OK : AZ_EXIT_FAIL;
	}
	snprintf(text, sizeof(text),
		 "# written by salvage setup --crashkernel --apply: the memory reserved for\n"
		 "# the crash kernel of salvage.service (%s and its crash initramfs)\n"
		 "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=%lluM\"\n",
		 kver, (unsigned long long)(need >> 20));
	snprintf(dir, sizeof(dir), "%s/etc/default", root);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "salvage setup: %s: %s\n", dir, strerror(errno));
		return AZ_EXIT_FAIL;
	}
	snprintf(dir, sizeof(dir), "%s/etc/default/grub.d", root);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "salvage setup: %s: %s\n", dir, strerror(errno));
		return AZ_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s" GRUB_DROPIN, root);
	if ((rc = write_file(path, text)) < 0) {
		fprintf(stderr, "salvage setup: %s: %s\n", path, strerror(-rc));
		return AZ_EXIT_FAIL;
	}
	printf("wrote %s: crashkernel=%lluM\n", path, (unsigned long long)(need >> 20));
	/* another drop-in (kdump-tools') may set its own reservation: the
	 * kernel takes the last crashkernel= word */
	snprintf(path, sizeof(path), "%s/proc/cmdline", root);
	f = fopen(path, "re");
	if (f) {
		if (fgets(cur, sizeof(cur), f) && strstr(cur, "crashkernel="))
			printf("note: the running kernel already has a crashkernel= word; files in "
			       "/etc/default/grub.d are read in name order and the last word wins\n");
		fclose(f);
	}
	if (root[0]) {
		printf("not running update-grub under --root\n");
		return AZ_EXIT_OK;
	}
	rc = run_update_grub();
	if (rc != 0) {
		fprintf(stderr, "salvage setup: update-grub failed (status %d)\n", rc);
		return AZ_EXIT_FAIL;
	}
	printf("reboot to reserve the memory; then salvage status\n");
	return AZ_EXIT_OK;
}
