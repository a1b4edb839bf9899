/*
 * kexec-load: load (or unload) a crash kernel with the kexec_file_load(2)
 * system call, without kexec-tools.  Built static and placed into the
 * first-boot initramfs of the QEMU end-to-end harness (tests/vm/).
 *
 *   kexec-load [-n] KERNEL INITRD|- CMDLINE   load a crash (kdump) kernel
 *   kexec-load -u                            unload the crash kernel
 *
 *   -n      normal kexec image instead of a crash image (no KEXEC_FILE_ON_CRASH)
 *   INITRD  "-" loads no initramfs (KEXEC_FILE_NO_INITRAMFS)
 *
 * Exit status: 0 on success, 1 on a failed system call, 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_kexec_file_load
#if defined(__x86_64__)
#define SYS_kexec_file_load 320
#else
#error "SYS_kexec_file_load unknown for this architecture"
#endif
#endif

#define KEXEC_FILE_UNLOAD       0x1
#define KEXEC_FILE_ON_CRASH     0x2
#define KEXEC_FILE_NO_INITRAMFS 0x4

static int usage(void)
{
	fprintf(stderr,
		"usage: kexec-load [-n] KERNEL INITRD|- CMDLINE\n"
		"       kexec-load [-n] -u\n");
	return 2;
}

static int open_ro(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "kexec-load: open %s: %s\n", path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	unsigned long flags = KEXEC_FILE_ON_CRASH;
	int i = 1, kfd, ifd = -1;
	const char *cmdline;
	long rc;

	if (i < argc && strcmp(argv[i], "-n") == 0) {
		flags &= ~(unsigned long)KEXEC_FILE_ON_CRASH;
		i++;
	}
	if (i < argc && strcmp(argv[i], "-u") == 0) {
		if (i + 1 != argc)
			return usage();
		rc = syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL,
			     flags | KEXEC_FILE_UNLOAD);
		if (rc != 0) {
			fprintf(stderr, "kexec-load: unload: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc - i != 3)
		return usage();

	kfd = open_ro(argv[i]);
	if (kfd < 0)
		return 1;
	if (strcmp(argv[i + 1], "-") == 0) {
		flags |= KEXEC_FILE_NO_INITRAMFS;
	} else {
		ifd = open_ro(argv[i + 1]);
		if (ifd < 0)
			return 1;
	}
	cmdline = argv[i + 2];

	/* cmdline_len includes the terminating NUL. */
	rc = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1,
		     cmdline, flags);
	if (rc != 0) {
		fprintf(stderr, "kexec-load: kexec_file_load(%s, %s, flags=%#lx): %s\n",
			argv[i], argv[i + 1], flags, strerror(errno));
		return 1;
	}
	close(kfd);
	if (ifd >= 0)
		close(ifd);
	return 0;
}
