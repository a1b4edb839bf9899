/* keygen.c - `salvage keygen -o BASENAME [--label LABEL]`: a long-term
 * X25519 key pair for an agent or a receiver (net/keys.c has the formats).
 * BASENAME is the private key (0600), BASENAME.pub one authorized-keys line. */
#include "salvage.h"
#include "../net/net.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
"usage: salvage keygen -o BASENAME [--label LABEL]\n"
"\n"
"Write a new key pair: BASENAME (private, mode 0600) and BASENAME.pub (one line,\n"
"'salvage-x25519 KEY LABEL', for a receiver's --authorized-keys or an agent's\n"
"--receiver-key).  LABEL (default: this host's name) names the agent's dump\n"
"directories on a receiver: 1-64 of A-Z a-z 0-9 . _ -.  An authorized-keys\n"
"line may end with limit=SIZE (K, M, G, T): the largest dump that agent may send.\n"
"Existing files are never overwritten.\n";

int az_cmd_keygen(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *label = NULL;
	char host[HOST_NAME_MAX + 1], err[NET_ERR_MAX];
	struct net_keypair kp;
	int opt;

	while ((opt = getopt_long(argc, argv, "o:l:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'l': label = optarg; break;
		case 'h': fputs(usage_text, stdout); return AZ_EXIT_OK;
		default: fputs(usage_text, stderr); return AZ_EXIT_USAGE;
		}
	}
	if (!out || optind != argc) {
		fputs(usage_text, stderr);
		return AZ_EXIT_USAGE;
	}
	if (!label) {
		if (gethostname(host, sizeof(host)) < 0)
			host[0] = 0;
		host[sizeof(host) - 1] = 0;
		host[strcspn(host, ".")] = 0;
		label = host;
	}
	if (!net_label_ok(label)) {
		fprintf(stderr, "salvage keygen: label '%s' is not 1-%d of A-Z a-z 0-9 . _ - "
			"(use --label)\n", label, NET_LABEL_MAX);
		return AZ_EXIT_USAGE;
	}
	if (net_init() < 0 || net_key_generate(&kp, label) < 0) {
		fprintf(stderr, "salvage keygen: cannot initialise libsodium\n");
		return AZ_EXIT_FAIL;
	}
	int rc = net_key_save(&kp, out, err, sizeof(err));
	sodium_memzero(&kp, sizeof(kp));
	if (rc < 0) {
		fprintf(stderr, "salvage keygen: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	printf("%s (private) and %s.pub written, label %s\n", out, out, label);
	return AZ_EXIT_OK;
}
