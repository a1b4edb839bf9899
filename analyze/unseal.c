/* unseal.c - `salvage unseal --key FILE SEALED OUTPUT`: the plain file of a
 * dump or kernel log sealed by `salvage-capture --seal-to` (net/seal.c), in
 * one pass with bounded memory; and the message every command gives when
 * handed a sealed file. */
#include "salvage.h"
#include "../net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char usage_text[] =
"usage: salvage unseal --key FILE SEALED OUTPUT\n"
"\n"
"Decrypt SEALED (a dump or dmesg.txt written with salvage-capture --seal-to)\n"
"into OUTPUT (\"-\": standard output) with the private key FILE whose public\n"
"key it was sealed to.  A damaged, altered or cut file is refused and no\n"
"OUTPUT is left.  A sealed dump holds the flattened format, which every\n"
"salvage command reads.  Every command also takes --key FILE and reads a\n"
"sealed dump directly (unsealed into memory).\n";

bool az_is_sealed(const char *path)
{
	uint8_t m[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, m, sizeof(m));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)sizeof(m) && net_is_sealed(m, sizeof(m));
}

bool az_say_sealed(const char *path)
{
	uint8_t hdr[NET_SEAL_HDR], pk[NET_KEY_BYTES];
	char fp[17];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, hdr, sizeof(hdr));

	if (fd >= 0)
		close(fd);
	if (n < 8 || !net_is_sealed(hdr, (size_t)n))
		return false;
	if (net_seal_recipient(hdr, (size_t)n, pk) == 0) {
		net_fingerprint(pk, fp);
		fprintf(stderr, "salvage: %s: sealed (to key %s): --key FILE reads it, "
			"salvage unseal writes it plain\n", path, fp);
	} else {
		fprintf(stderr, "salvage: %s: sealed, in a format this salvage does not know\n",
			path);
	}
	return true;
}

int az_unseal_memfd(const char *path, const char *keyfile)
{
	char err[NET_ERR_MAX];
	struct net_keypair kp;
	uint64_t bytes;
	int in, out, rc;

	if (net_init() < 0 || net_key_load(keyfile, &kp, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage: --key: %s\n", err);
		return -1;
	}
	in = open(path, O_RDONLY | O_CLOEXEC);
	out = memfd_create("salvage-unsealed", MFD_CLOEXEC);
	if (in < 0 || out < 0) {
		fprintf(stderr, "salvage: %s: %s\n", path, strerror(errno));
		sodium_memzero(&kp, sizeof(kp));
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		return -1;
	}
	rc = net_unseal(in, out, &kp, &bytes, err, sizeof(err));
	sodium_memzero(&kp, sizeof(kp));
	close(in);
	if (rc < 0) {
		fprintf(stderr, "salvage: %s: %s\n", path, err);
		close(out);
		return -1;
	}
	return out;
}

int az_cmd_unseal(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyf = NULL, *in, *out;
	char err[NET_ERR_MAX], tmp[4096];
	struct net_keypair kp;
	uint64_t bytes = 0;
	int opt, ifd, ofd, rc;

	while ((opt = getopt_long(argc, argv, "k:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'k': keyf = optarg; break;
		case 'h': fputs(usage_text, stdout); return AZ_EXIT_OK;
		default: fputs(usage_text, stderr); return AZ_EXIT_USAGE;
		}
	}
	if (!keyf || argc - optind != 2) {
		fputs(usage_text, stderr);
		return AZ_EXIT_USAGE;
	}
	in = argv[optind];
	out = argv[optind + 1];
	if (net_init() < 0 || net_key_load(keyf, &kp, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage unseal: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	ifd = open(in, O_RDONLY | O_CLOEXEC);
	if (ifd < 0) {
		fprintf(stderr, "salvage unseal: %s: %s\n", in, strerror(errno));
		return AZ_EXIT_FAIL;
	}
	if (!strcmp(out, "-")) {
		ofd = STDOUT_FILENO;
	} else {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= (int)sizeof(tmp)) {
			fprintf(stderr, "salvage unseal: %s: name too long\n", out);
			close(ifd);
			return AZ_EXIT_FAIL;
		}
		ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (ofd < 0) {
			fprintf(stderr, "salvage unseal: %s: %s\n", tmp, strerror(errno));
			close(ifd);
			return AZ_EXIT_FAIL;
		}
	}
	rc = net_unseal(ifd, ofd, &kp, &bytes, err, sizeof(err));
	sodium_memzero(&kp, sizeof(kp));
	close(ifd);
	if (ofd != STDOUT_FILENO) {
		if (rc == 0 && (fsync(ofd) < 0 || close(ofd) < 0 || rename(tmp, out) < 0)) {
			snprintf(err, sizeof(err), "%s: %s", out, strerror(errno));
			rc = -1;
		} else if (rc < 0) {
			close(ofd);
		}
		if (rc < 0)
			unlink(tmp);
	}
	if (rc < 0) {
		fprintf(stderr, "salvage unseal: %s: %s\n", in, err);
		return AZ_EXIT_FAIL;
	}
	return AZ_EXIT_OK;
}
