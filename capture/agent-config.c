/* agent-config.c - the agent's KEY=VALUE configuration and its command-line
 * overrides (salvage.KEY=VALUE words of /proc/cmdline).
 *
 * A bad value never stops the agent: it is reported, and the previous value
 * (the file's, else the default) stays.  A crash kernel with a typo in its
 * command line should still capture with the built-in configuration.
 */
#include "agent-internal.h"
#include "../vmcore/vmcore.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_str, K_int, K_uint, K_size, K_level, K_codec, K_format, K_action, K_secs };

struct key {
	const char *name;
	enum kind kind;
	const char *def;
};

static const struct key keys[] = {
#define X(name, kind, def, help) { #name, K_##kind, def },
	CAP_AGENT_KEYS(X)
#undef X
};

static const struct {
	const char *name;
	unsigned bit;
} codecs[] = {
	{ "none", 0 }, { "zlib", VMC_COMP_ZLIB }, { "lzo", VMC_COMP_LZO },
	{ "snappy", VMC_COMP_SNAPPY }, { "zstd", VMC_COMP_ZSTD },
};

static const char *const actions[] = {
	[CAP_ACT_REBOOT] = "reboot", [CAP_ACT_POWEROFF] = "poweroff",
	[CAP_ACT_SHELL] = "shell", [CAP_ACT_EXIT] = "exit",
};

const char *cap_agent_action_name(enum cap_agent_action a)
{
	return (unsigned)a < sizeof(actions) / sizeof(actions[0]) ? actions[a] : "?";
}

const char *cap_agent_codec_name(unsigned codec)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i].bit == codec)
			return codecs[i].name;
	return "?";
}

static int parse_u64(const char *s, uint64_t *out, bool size_suffix)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	if (size_suffix && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		case 'T': shift = 40; break;
		default: return -EINVAL;
		}
		end++;
		if (toupper((unsigned char)*end) == 'B' || (*end == 'i' && end[1] == 'B'))
			end += *end == 'i' ? 2 : 1;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int set_str(char *dst, size_t len, const char *v, char *why, size_t whylen,
		   const char *key)
{
	if (strlen(v) >= len) {
		snprintf(why, whylen, "%s: value longer than %zu bytes", key, len - 1);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int parse_action(const char *v, enum cap_agent_action *a)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(v, actions[i])) {
			*a = (enum cap_agent_action)i;
			return 0;
		}
	return -EINVAL;
}

/* Store a parsed value into the field named by key. */
static int store(struct cap_agent_config *c, const char *key, uint64_t u, int64_t i,
		 const char *s, char *why, size_t whylen)
{
#define STR(f) if (!strcmp(key, #f)) return set_str(c->f, sizeof(c->f), s, why, whylen, key)
	STR(target); STR(fstype); STR(modules); STR(hostname); STR(vmcore); STR(shell); STR(kver);
#undef STR
	if (!strcmp(key, "codec_level")) c->codec_level = (int)i;
	else if (!strcmp(key, "keep")) c->keep = (unsigned)u;
	else if (!strcmp(key, "minfree")) c->minfree = u;
	else if (!strcmp(key, "timeout")) c->timeout = (unsigned)u;
	else if (!strcmp(key, "wait")) c->wait = (unsigned)u;
	else if (!strcmp(key, "threads")) c->threads = (unsigned)u;
	else if (!strcmp(key, "memory")) c->memory = u;
	else if (!strcmp(key, "progress")) c->progress = (unsigned)u;
	else if (!strcmp(key, "fail_after")) c->fail_after = u;
	else if (!strcmp(key, "level")) c->level = (int)u;
	else if (!strcmp(key, "xen_domu")) {
		if (u > 1) {
			snprintf(why, whylen, "%s: '%s' is not 0 or 1", key, s);
			return -EINVAL;
		}
		c->xen_domu = (unsigned)u;
	}
	else
		return -ENOENT;
	return 0;
}

int cap_agent_config_set(struct cap_agent_config *c, const char *key, const char *value,
			 char *why, size_t whylen)
{
	const struct key *k = NULL;
	uint64_t u = 0;
	int64_t i = 0;

	for (size_t n = 0; n < sizeof(keys) / sizeof(keys[0]); n++)
		if (!strcmp(keys[n].name, key))
			k = &keys[n];
	if (!k) {
		snprintf(why, whylen, "%s: unknown key", key);
		return -ENOENT;
	}
	switch (k->kind) {
	case K_str:
		break;
	case K_int: {
		char *end;
		long v;
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || !*value || *end || v < INT_MIN || v > INT_MAX)
			goto bad;
		i = v;
		break;
	}
	case K_uint:
	case K_secs:
		if (parse_u64(value, &u, false) < 0 || u > UINT_MAX)
			goto bad;
		break;
	case K_size:
		if (parse_u64(value, &u, true) < 0)
			goto bad;
		break;
	case K_level:
		if (parse_u64(value, &u, false) < 0 || u > 31) {
			snprintf(why, whylen, "%s: '%s' is not a dump level 0-31", key, value);
			return -EINVAL;
		}
		break;
	case K_codec:
		for (size_t n = 0; n < sizeof(codecs) / sizeof(codecs[0]); n++)
			if (!strcmp(value, codecs[n].name)) {
				c->codec = codecs[n].bit;
				return 0;
			}
		goto bad;
	case K_format:
		if (!strcmp(value, "kdump"))
			c->format = CAP_FMT_KDUMP;
		else if (!strcmp(value, "elf"))
			c->format = CAP_FMT_ELF;
		else
			goto bad;
		return 0;
	case K_action:
		if (parse_action(value, !strcmp(key, "action") ? &c->action
						       : &c->failure_action) < 0)
			goto bad;
		return 0;
	}
	return store(c, key, u, i, value, why, whylen);
bad:
	snprintf(why, whylen, "%s: bad value '%s'", key, value);
	return -EINVAL;
}

void cap_agent_config_defaults(struct cap_agent_config *c)
{
	char why[128];

	memset(c, 0, sizeof(*c));
	for (size_t n = 0; n < sizeof(keys) / sizeof(keys[0]); n++)
		if (cap_agent_config_set(c, keys[n].name, keys[n].def, why, sizeof(why)) < 0)
			abort();   /* a default that does not parse is a build bug */
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Set from "KEY=VALUE"; counts and remembers the first failure. */
static void apply(struct cap_agent_config *c, char *kv, int *nbad, char *why, size_t whylen)
{
	char *eq = strchr(kv, '='), tmp[256];
	char *v;

	if (!eq) {
		snprintf(tmp, sizeof(tmp), "'%.64s': not KEY=VALUE", kv);
		goto bad;
	}
	*eq = 0;
	v = trim(eq + 1);
	/* a value may be quoted in the file, as in shell */
	if (strlen(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[strlen(v) - 1] == v[0]) {
		v[strlen(v) - 1] = 0;
		v++;
	}
	if (cap_agent_config_set(c, trim(kv), v, tmp, sizeof(tmp)) == 0)
		return;
bad:
	if (!*nbad)
		snprintf(why, whylen, "%s", tmp);
	(*nbad)++;
}

int cap_agent_config_file(struct cap_agent_config *c, const char *path, int *nbad,
			  char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	char line[1024];

	*nbad = 0;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line);

		if (*s && *s != '#')
			apply(c, s, nbad, why, whylen);
	}
	fclose(f);
	return 0;
}

int cap_agent_config_cmdline(struct cap_agent_config *c, const char *cmdline, int *nbad,
			     char *why, size_t whylen)
{
	const char *p = cmdline;
	char word[1024];

	*nbad = 0;
	while (*p) {
		size_t n = 0;
		char quote = 0;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		/* the kernel's rule: double quotes group, and are dropped */
		for (; *p && (quote || !isspace((unsigned char)*p)); p++) {
			if (*p == '"') {
				quote = !quote;
				continue;
			}
			if (n + 1 < sizeof(word))
				word[n++] = *p;
		}
		word[n] = 0;
		if (!strncmp(word, "salvage.", 8))
			apply(c, word + 8, nbad, why, whylen);
	}
	return 0;
}
