/* config-cmd.c - `salvage config`: the service's configuration file
 * (/etc/salvage/salvage.conf) read with the agent's own schema and parser
 * (config/config.h), so that what passes here is what the crash kernel's
 * agent will accept.
 *
 *   check [FILE]             every refused line, with its number; exit 1
 *   show [--changed] [FILE]  the values the agent would run with
 *
 * show --changed prints only the keys whose value differs from the default:
 * the service hands exactly those to `salvage mkinitramfs --set`, which
 * keeps its own choices (the module list above all) for the others.
 */
#include "salvage.h"
#include "../config/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE_CONF "/etc/salvage/salvage.conf"

static const char usage_text[] =
"usage: salvage config check [FILE]\n"
"       salvage config show [--changed] [FILE]\n\n"
"Read the service's configuration (default " SERVICE_CONF ") with the\n"
"crash-kernel agent's parser: KEY=VALUE lines, '#' comments; the keys are\n"
"those of salvage-capture --init --help.\n\n"
"  check      print each refused line as FILE:LINE: reason; exit 1 if any\n"
"  show       print every key as KEY=VALUE after reading FILE\n"
"  --changed  only the keys whose value differs from the default\n"
"Exit status: 0 valid, 1 refused lines or unreadable file, 2 usage.\n";

struct where_ctx {
	const char *path;
	FILE *f;
};

/* "line 3" from the parser becomes "FILE:3", as compilers write it. */
static void print_error(void *ctx, const char *where, const char *why)
{
	const struct where_ctx *w = ctx;

	if (!strncmp(where, "line ", 5))
		fprintf(w->f, "%s:%s: %s\n", w->path, where + 5, why);
	else
		fprintf(w->f, "%s: %s: %s\n", w->path, where, why);
}

/* The whole file, at most CFG_FILE_MAX bytes; NULL after printing why. */
static char *read_conf(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "salvage config: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CFG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		fputs("salvage config: out of memory\n", stderr);
		return NULL;
	}
	n = fread(buf, 1, CFG_FILE_MAX + 1, f);
	if (ferror(f) || n > CFG_FILE_MAX) {
		fprintf(stderr, "salvage config: %s: %s\n", path,
			ferror(f) ? "read error" : "larger than the agent reads (256 KiB)");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

int az_cmd_config(int argc, char **argv)
{
	const char *path = SERVICE_CONF, *verb;
	bool changed = false;
	struct cfg c, def;
	struct where_ctx w;
	char *text;
	size_t len, nkeys;
	int nbad, i = 2;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? AZ_EXIT_USAGE : AZ_EXIT_OK;
	}
	verb = argv[1];
	if (strcmp(verb, "check") && strcmp(verb, "show")) {
		fprintf(stderr, "salvage config: unknown command '%s'\n%s", verb, usage_text);
		return AZ_EXIT_USAGE;
	}
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return AZ_EXIT_OK;
		}
		if (!strcmp(verb, "show") && !strcmp(argv[i], "--changed")) {
			changed = true;
			continue;
		}
		fprintf(stderr, "salvage config: unknown option '%s'\n%s", argv[i], usage_text);
		return AZ_EXIT_USAGE;
	}
	if (i < argc)
		path = argv[i++];
	if (i < argc) {
		fprintf(stderr, "salvage config: one file at a time\n%s", usage_text);
		return AZ_EXIT_USAGE;
	}
	text = read_conf(path, &len);
	if (!text)
		return AZ_EXIT_FAIL;
	cfg_defaults(&c);
	w.path = path;
	w.f = !strcmp(verb, "check") ? stdout : stderr;
	nbad = cfg_parse_text(&c, text, len, print_error, &w);
	free(text);
	if (!strcmp(verb, "check")) {
		if (nbad)
			printf("%s: %d line%s refused\n", path, nbad, nbad == 1 ? "" : "s");
		else
			printf("%s: valid%s\n", path, c.target[0] ? "" :
			       " (no target: the service writes to the file system of /var/crash)");
		return fflush(stdout) == 0 && !nbad ? AZ_EXIT_OK : AZ_EXIT_FAIL;
	}
	if (nbad)
		return AZ_EXIT_FAIL;
	cfg_defaults(&def);
	const struct cfg_key *keys = cfg_keys(&nkeys);
	for (size_t k = 0; k < nkeys; k++) {
		char v[CFG_LINE_MAX + 1], dv[CFG_LINE_MAX + 1];

		cfg_value(&c, &keys[k], v, sizeof(v));
		cfg_value(&def, &keys[k], dv, sizeof(dv));
		if (!changed || strcmp(v, dv))
			printf("%s=%s\n", keys[k].name, v);
	}
	return fflush(stdout) == 0 ? AZ_EXIT_OK : AZ_EXIT_FAIL;
}
