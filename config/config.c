/* config.c - the agent's configuration: schema table, value parser, file
 * and command-line readers, printer (API in config.h).
 *
 * Numbers are parsed here by hand, decimal only: strtoull's base 0 read
 * "010" as eight and refused "08", and its sign and space handling let " -1"
 * through as a huge unsigned value.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct cfg_key keys[] = {
#define X(key, type, def, min, max, choices, help) \
	{ #key, CFG_##type, def, min, max, choices, help, offsetof(struct cfg, key) },
	CFG_KEYS(X)
#undef X
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const struct cfg_key *cfg_keys(size_t *n)
{
	*n = NKEYS;
	return keys;
}

const struct cfg_key *cfg_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* The index of word in a space separated list, or -1. */
static int enum_index(const char *choices, const char *word)
{
	size_t wl = strlen(word);
	int i = 0;

	for (const char *p = choices; *p; i++) {
		size_t n = strcspn(p, " ");

		if (n == wl && wl && !memcmp(p, word, n))
			return i;
		p += n;
		p += *p == ' ';
	}
	return -1;
}

const char *cfg_enum_word(const char *key, unsigned value, char *out, size_t outlen)
{
	const struct cfg_key *k = cfg_key(key);
	const char *p;

	snprintf(out, outlen, "?");
	if (!k || k->type != CFG_ENUM)
		return out;
	p = k->choices;
	for (unsigned i = 0; *p; i++) {
		size_t n = strcspn(p, " ");

		if (i == value) {
			snprintf(out, outlen, "%.*s", (int)n, p);
			break;
		}
		p += n;
		p += *p == ' ';
	}
	return out;
}

/* A size as the shortest exact text: 64M, not 67108864. */
static void size_text(uint64_t v, char *out, size_t outlen)
{
	static const char suffix[] = "KMGT";
	int s = -1;

	while (v && s < 3 && !(v & 1023)) {
		v >>= 10;
		s++;
	}
	if (s < 0)
		snprintf(out, outlen, "%llu", (unsigned long long)v);
	else
		snprintf(out, outlen, "%llu%c", (unsigned long long)v, suffix[s]);
}

static void range_text(const struct cfg_key *k, char *out, size_t outlen)
{
	char a[24], b[24];

	if (k->type == CFG_SIZE) {
		size_text((uint64_t)k->min, a, sizeof(a));
		size_text((uint64_t)k->max, b, sizeof(b));
	} else {
		snprintf(a, sizeof(a), "%lld", (long long)k->min);
		snprintf(b, sizeof(b), "%lld", (long long)k->max);
	}
	snprintf(out, outlen, "%s..%s", a, b);
}

/* Decimal digits, then (SIZE) a suffix.  -EINVAL: not a number;
 * -ERANGE: more than 2^63 - 1. */
static int parse_number(const struct cfg_key *k, const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0;
	unsigned shift = 0;

	if (*s == '-' && k->min < 0) {
		neg = true;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (k->type == CFG_SIZE && *s) {
		switch (*s) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: return -EINVAL;
		}
		s++;
		if (!strcmp(s, "B") || !strcmp(s, "iB"))
			s += strlen(s);
	}
	if (*s)
		return -EINVAL;
	if (v > (uint64_t)INT64_MAX >> shift)
		return -ERANGE;
	v <<= shift;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Absolute, and no ".." component. */
static bool safe_dir(const char *d)
{
	if (d[0] != '/')
		return false;
	for (const char *p = d; (p = strstr(p, "..")); p += 2)
		if ((p == d || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
			return false;
	return true;
}

int cfg_target_parse(const char *text, struct cfg_target *t, char *why, size_t whylen)
{
	const char *rest, *sep;
	size_t n;

	memset(t, 0, sizeof(*t));
	if (!strncmp(text, "net:", 4)) {
		const char *a = text + 4, *colon = strrchr(a, ':');
		bool ok = colon && colon > a && colon[1] && strlen(a) < sizeof(t->spec) &&
			  strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
			  strlen(colon + 1) <= 5 && atoi(colon + 1) > 0 && atoi(colon + 1) < 65536;
		if (ok && a[0] == '[')
			ok = colon[-1] == ']' && strspn(a + 1, "0123456789abcdefABCDEF:.") ==
						     (size_t)(colon - a - 2);
		else if (ok)
			ok = strspn(a, "0123456789.") == (size_t)(colon - a);
		if (!ok) {
			snprintf(why, whylen, "target %.64s: expected net:ADDR:PORT (numeric IPv4 "
				 "or [IPv6] address)", text);
			return -EINVAL;
		}
		t->is_net = true;
		snprintf(t->spec, sizeof(t->spec), "%s", a);
		return 0;
	}
	if (!strncmp(text, "dir:", 4)) {
		t->is_dir = true;
		if (!safe_dir(text + 4) || strlen(text + 4) >= sizeof(t->dir)) {
			snprintf(why, whylen, "target %.64s: dir: needs an absolute path", text);
			return -EINVAL;
		}
		snprintf(t->dir, sizeof(t->dir), "%s", text + 4);
		return 0;
	}
	if (strncmp(text, "disk:", 5)) {
		snprintf(why, whylen, "target '%.64s': expected disk:SPEC[:DIR], dir:PATH or net:ADDR:PORT", text);
		return -EINVAL;
	}
	rest = text + 5;
	sep = strstr(rest, ":/");
	n = sep ? (size_t)(sep - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(t->spec)) {
		snprintf(why, whylen, "target %.64s: bad device", text);
		return -EINVAL;
	}
	memcpy(t->spec, rest, n);
	t->spec[n] = 0;
	if (strlen(sep ? sep + 1 : CFG_TARGET_SUBDIR) >= sizeof(t->dir)) {
		snprintf(why, whylen, "target %.64s: directory too long", text);
		return -EINVAL;
	}
	snprintf(t->dir, sizeof(t->dir), "%s", sep ? sep + 1 : CFG_TARGET_SUBDIR);
	if (strncmp(t->spec, "UUID=", 5) && strncmp(t->spec, "LABEL=", 6) &&
	    strncmp(t->spec, "/dev/", 5)) {
		snprintf(why, whylen, "target %.64s: device must be UUID=, LABEL= or /dev/...",
			 text);
		return -EINVAL;
	}
	if (!strncmp(t->spec, "/dev/", 5) && strlen(t->spec) > CFG_TARGET_DEVICE_MAX) {
		snprintf(why, whylen, "target %.64s: device path too long", text);
		return -EINVAL;
	}
	if (!safe_dir(t->dir)) {
		snprintf(why, whylen, "target %.64s: directory must be absolute, without '..'",
			 text);
		return -EINVAL;
	}
	return 0;
}

int cfg_target_entry(const char *list, size_t i, char *out, size_t outlen)
{
	const char *p = list;

	for (; i; i--) {
		p = strchr(p, ',');
		if (!p)
			return -ENOENT;
		p++;
	}
	size_t n = strcspn(p, ",");
	if (!n && !*p && p == list)
		return -ENOENT;
	if (n >= outlen)
		return -E2BIG;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

/* Check value for k; on success the parsed number or enum index in *num. */
static int check(const struct cfg_key *k, const char *value, int64_t *num, char *why,
		 size_t whylen)
{
	char range[64];
	int rc, idx;

	switch (k->type) {
	case CFG_STR:
	case CFG_TARGET:
		if (strlen(value) > (size_t)k->max) {
			snprintf(why, whylen, "%s: value longer than %lld bytes", k->name,
				 (long long)k->max);
			return -EINVAL;
		}
		if (has_control(value)) {
			snprintf(why, whylen, "%s: value has a control character", k->name);
			return -EINVAL;
		}
		if (k->type == CFG_TARGET && *value) {
			struct cfg_target t;
			char one[512];
			for (size_t i = 0; (rc = cfg_target_entry(value, i, one, sizeof(one))) != -ENOENT;
			     i++)
				if (rc < 0 || (rc = cfg_target_parse(one, &t, why, whylen)) < 0) {
					if (rc == -E2BIG)
						snprintf(why, whylen, "%s: entry too long", k->name);
					return -EINVAL;
				}
			return 0;
		}
		return 0;
	case CFG_IDLIST: {
		const char *p = value;
		size_t n = 0;
		if (strlen(value) > CFG_IDLIST_LEN) {
			snprintf(why, whylen, "%s: value longer than %d bytes", k->name, CFG_IDLIST_LEN);
			return -EINVAL;
		}
		while (*p) {
			char *end;
			errno = 0;
			long long v = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
			if (v < 0 || errno || v < k->min || v > k->max || (*end && *end != ',') ||
			    (*end == ',' && !end[1]) || ++n > CFG_IDLIST_MAX) {
				snprintf(why, whylen,
					 "%s: '%.64s' is not a comma-separated list of at most %d ids in %lld..%lld",
					 k->name, value, CFG_IDLIST_MAX, (long long)k->min, (long long)k->max);
				return -EINVAL;
			}
			p = *end ? end + 1 : end;
		}
		return 0;
	}
	case CFG_ENUM:
		idx = enum_index(k->choices, value);
		if (idx < 0) {
			snprintf(why, whylen, "%s: '%.64s' is not one of %s", k->name, value,
				 k->choices);
			return -EINVAL;
		}
		*num = idx;
		return 0;
	case CFG_INT:
	case CFG_UINT:
	case CFG_SECS:
	case CFG_SIZE:
		break;
	}
	range_text(k, range, sizeof(range));
	rc = parse_number(k, value, num);
	if (rc == -EINVAL) {
		snprintf(why, whylen, "%s: '%.64s' is not a decimal number%s", k->name, value,
			 k->type == CFG_SIZE ? " with an optional K, M, G or T" : "");
		return -EINVAL;
	}
	if (rc < 0 || *num < k->min || *num > k->max) {
		snprintf(why, whylen, "%s: '%.64s' is not in %s", k->name, value, range);
		return -EINVAL;
	}
	return 0;
}

int cfg_check(const char *key, const char *value, char *why, size_t whylen)
{
	const struct cfg_key *k = cfg_key(key);
	int64_t num;

	if (!k) {
		snprintf(why, whylen, "%.64s: unknown key", key);
		return -ENOENT;
	}
	return check(k, value, &num, why, whylen);
}

int cfg_set(struct cfg *c, const char *key, const char *value, char *why, size_t whylen)
{
	const struct cfg_key *k = cfg_key(key);
	char *field;
	int64_t num = 0;
	int rc;

	if (!k) {
		snprintf(why, whylen, "%.64s: unknown key", key);
		return -ENOENT;
	}
	rc = check(k, value, &num, why, whylen);
	if (rc < 0)
		return rc;
	field = (char *)c + k->offset;
	switch (k->type) {
	case CFG_STR:
	case CFG_TARGET:
	case CFG_IDLIST:
		memcpy(field, value, strlen(value) + 1);
		break;
	case CFG_ENUM: {
		unsigned u = (unsigned)num;
		memcpy(field, &u, sizeof(u));
		break;
	}
	case CFG_INT:
		memcpy(field, &num, sizeof(num));
		break;
	case CFG_UINT:
	case CFG_SECS:
	case CFG_SIZE: {
		uint64_t u = (uint64_t)num;
		memcpy(field, &u, sizeof(u));
		break;
	}
	}
	return 0;
}

void cfg_defaults(struct cfg *c)
{
	char why[160];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++)
		if (cfg_set(c, keys[i].name, keys[i].def, why, sizeof(why)) < 0)
			abort();   /* a default the schema refuses is a build bug */
}

void cfg_value(const struct cfg *c, const struct cfg_key *k, char *out, size_t outlen)
{
	const char *field = (const char *)c + k->offset;
	int64_t i;
	uint64_t u;
	unsigned e;

	switch (k->type) {
	case CFG_STR:
	case CFG_TARGET:
	case CFG_IDLIST:
		snprintf(out, outlen, "%s", field);
		break;
	case CFG_ENUM:
		memcpy(&e, field, sizeof(e));
		cfg_enum_word(k->name, e, out, outlen);
		break;
	case CFG_INT:
		memcpy(&i, field, sizeof(i));
		snprintf(out, outlen, "%lld", (long long)i);
		break;
	case CFG_SIZE:
		memcpy(&u, field, sizeof(u));
		size_text(u, out, outlen);
		break;
	case CFG_UINT:
	case CFG_SECS:
		memcpy(&u, field, sizeof(u));
		snprintf(out, outlen, "%llu", (unsigned long long)u);
		break;
	}
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

static char *trim(char *s)
{
	char *e;

	while (is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = 0;
	return s;
}

/* Apply one "KEY=VALUE" (modified in place); 0 or -errno with why. */
static int apply(struct cfg *c, char *kv, char *why, size_t whylen)
{
	char *eq = strchr(kv, '='), *v;
	size_t n;

	if (!eq) {
		snprintf(why, whylen, "'%.64s': not KEY=VALUE", kv);
		return -EINVAL;
	}
	*eq = 0;
	v = trim(eq + 1);
	n = strlen(v);
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = 0;
		v++;
	}
	return cfg_set(c, trim(kv), v, why, whylen);
}

int cfg_parse_text(struct cfg *c, const char *text, size_t len, cfg_error_fn *err, void *ctx)
{
	char line[CFG_LINE_MAX + 1], where[32], why[256];
	size_t pos = 0;
	unsigned lineno = 0;
	int nbad = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s;

		lineno++;
		snprintf(where, sizeof(where), "line %u", lineno);
		if (n > CFG_LINE_MAX) {
			size_t lead = 0;

			/* skipped whole; a comment stays a comment however long */
			while (lead < n && is_space(text[pos + lead]))
				lead++;
			if (lead == n || text[pos + lead] != '#') {
				snprintf(why, sizeof(why), "longer than %u bytes, ignored",
					 (unsigned)CFG_LINE_MAX);
				if (err)
					err(ctx, where, why);
				nbad++;
			}
			pos += n + 1;
			continue;
		}
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos += n + 1;
		if (memchr(line, 0, n)) {
			snprintf(why, sizeof(why), "has a NUL byte, ignored");
			if (err)
				err(ctx, where, why);
			nbad++;
			continue;
		}
		s = trim(line);
		if (!*s || *s == '#')
			continue;
		if (apply(c, s, why, sizeof(why)) < 0) {
			if (err)
				err(ctx, where, why);
			nbad++;
		}
	}
	return nbad;
}

int cfg_parse_cmdline(struct cfg *c, const char *cmdline, cfg_error_fn *err, void *ctx)
{
	const char *p = cmdline;
	char word[CFG_LINE_MAX + 1], why[256];
	int nbad = 0;

	while (*p) {
		size_t n = 0;
		bool quote = false, toolong = false;

		while (is_space(*p))
			p++;
		if (!*p)
			break;
		for (; *p && (quote || !is_space(*p)); p++) {
			if (*p == '"') {
				quote = !quote;
				continue;
			}
			if (n < CFG_LINE_MAX)
				word[n++] = *p;
			else
				toolong = true;
		}
		word[n] = 0;
		if (strncmp(word, "salvage.", 8))
			continue;
		if (toolong) {
			snprintf(why, sizeof(why), "longer than %u bytes, ignored",
				 (unsigned)CFG_LINE_MAX);
		} else if (apply(c, word + 8, why, sizeof(why)) == 0) {
			continue;
		}
		if (err)
			err(ctx, "command line", why);
		nbad++;
	}
	return nbad;
}

void cfg_print(const struct cfg *c, FILE *f)
{
	char v[CFG_LINE_MAX + 1];

	for (size_t i = 0; i < NKEYS; i++) {
		cfg_value(c, &keys[i], v, sizeof(v));
		fprintf(f, "%s=%s\n", keys[i].name, v);
	}
}

void cfg_print_error(void *ctx, const char *where, const char *why)
{
	fprintf(ctx, "error: %s: %s\n", where, why);
}

void cfg_print_help(FILE *f)
{
	char range[64];

	for (size_t i = 0; i < NKEYS; i++) {
		const struct cfg_key *k = &keys[i];

		fprintf(f, "  %-15s %s\n", k->name, k->help);
		switch (k->type) {
		case CFG_STR:
		case CFG_TARGET:
			snprintf(range, sizeof(range), "text, at most %lld bytes", (long long)k->max);
			break;
		case CFG_ENUM:
			snprintf(range, sizeof(range), "%s", k->choices);
			break;
		case CFG_IDLIST:
			snprintf(range, sizeof(range), "ids %lld..%lld, comma separated, at most %d",
				 (long long)k->min, (long long)k->max, CFG_IDLIST_MAX);
			break;
		default:
			range_text(k, range, sizeof(range));
			if (k->type == CFG_SIZE)
				snprintf(range + strlen(range), sizeof(range) - strlen(range),
					 " bytes");
			else if (k->type == CFG_SECS)
				snprintf(range + strlen(range), sizeof(range) - strlen(range),
					 " seconds");
			break;
		}
		fprintf(f, "  %-15s %s; default %s\n", "", range, *k->def ? k->def : "none");
	}
}

int cfg_quote(const char *value, char *out, size_t outlen)
{
	size_t n = strlen(value);
	bool q;

	if (has_control(value))
		return -EINVAL;
	q = n && (is_space(value[0]) || is_space(value[n - 1]) || value[0] == '"' ||
		  value[0] == '\'' || value[n - 1] == '"' || value[n - 1] == '\'');
	/* only the outer pair is dropped, so quotes inside need no escape */
	if ((size_t)snprintf(out, outlen, q ? "\"%s\"" : "%s", value) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}
