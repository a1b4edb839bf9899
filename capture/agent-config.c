/* agent-config.c - the configuration stage of the agent: the schema and
 * parser are config/'s; here the file, the kernel command line and --set are
 * applied in that order, and the schema's enumerations are turned into the
 * capture's options.
 *
 * A bad value never stops the agent: it is reported, and the previous value
 * (the file's, else the default) stays.  A crash kernel with a typo in its
 * command line should still capture with the built-in configuration.
 */
#include "agent-internal.h"
#include "../vmcore/vmcore.h"
#include "../kmod/kmod.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cap_agent_action_name(unsigned action)
{
	static const char *const names[] = {
		[CFG_ACT_REBOOT] = "reboot", [CFG_ACT_POWEROFF] = "poweroff",
		[CFG_ACT_SHELL] = "shell", [CFG_ACT_EXIT] = "exit",
	};
	return action < sizeof(names) / sizeof(names[0]) ? names[action] : "?";
}

const char *cap_agent_codec_name(unsigned codec)
{
	static const char *const names[] = {
		[CFG_CODEC_ZSTD] = "zstd", [CFG_CODEC_ZLIB] = "zlib", [CFG_CODEC_LZO] = "lzo",
		[CFG_CODEC_SNAPPY] = "snappy", [CFG_CODEC_NONE] = "none",
	};
	return codec < sizeof(names) / sizeof(names[0]) ? names[codec] : "?";
}

unsigned cap_agent_codec_bit(unsigned codec)
{
	switch (codec) {
	case CFG_CODEC_ZLIB: return VMC_COMP_ZLIB;
	case CFG_CODEC_LZO: return VMC_COMP_LZO;
	case CFG_CODEC_SNAPPY: return VMC_COMP_SNAPPY;
	case CFG_CODEC_ZSTD: return VMC_COMP_ZSTD;
	default: return 0;
	}
}

enum cap_format cap_agent_format(unsigned format)
{
	return format == CFG_FORMAT_ELF ? CAP_FMT_ELF : CAP_FMT_KDUMP;
}

struct report {
	cap_agent_config_report_fn *fn;
	const char *source;
};

static void report_one(void *ctx, const char *where, const char *why)
{
	struct report *r = ctx;
	char at[512];

	snprintf(at, sizeof(at), "%s%s%s", r->source, *r->source ? " " : "", where);
	r->fn(at, why);
}

int cap_agent_config_load(struct cfg *c, const char *path, const char *cmdline,
			  const char *const *sets, size_t nsets,
			  cap_agent_config_report_fn *report)
{
	struct report r = { report, path };
	void *text;
	size_t len;
	int nbad = 0, rc;

	cfg_defaults(c);
	rc = kmod_read_file(path, CFG_FILE_MAX, &text, &len);
	if (rc < 0) {
		report(path, strerror(-rc));
	} else {
		nbad += cfg_parse_text(c, text, len, report_one, &r);
		free(text);
	}
	if (cmdline) {
		r.source = "";
		nbad += cfg_parse_cmdline(c, cmdline, report_one, &r);
	}
	for (size_t i = 0; i < nsets; i++) {
		char why[256], *kv = strdup(sets[i]), *eq = kv ? strchr(kv, '=') : NULL;

		if (eq)
			*eq = 0;
		if (!eq || cfg_set(c, kv, eq + 1, why, sizeof(why)) < 0) {
			report("--set", !kv ? strerror(ENOMEM) : eq ? why : "not KEY=VALUE");
			nbad++;
		}
		free(kv);
	}
	return nbad;
}
