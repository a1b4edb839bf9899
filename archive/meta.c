/* meta.c - read values out of our agent's meta.json (capture/agent-meta.c
 * writes it): a small JSON reader that walks objects by key and decodes one
 * value; everything it does not need is skipped, depth-bounded. */
#include "archive.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* past the string at p (p at the opening quote), or NULL */
static const char *skip_string(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return NULL;
			p++;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

static const char *skip_value(const char *p, int depth)
{
	p = ws(p);
	if (depth > MAX_DEPTH)
		return NULL;
	if (*p == '"')
		return skip_string(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (*p != '"' || !(p = skip_string(p)))
					return NULL;
				p = ws(p);
				if (*p != ':')
					return NULL;
				p++;
			}
			if (!(p = skip_value(p, depth + 1)))
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p = ws(p + 1);
		}
	}
	const char *s = p;
	while (*p && strchr("+-.0123456789eEtruefalsn", *p))
		p++;
	return p > s ? p : NULL;
}

/* the decoded string at p (at its quote): escapes resolved, \u beyond ASCII
 * and control characters as '?' */
static char *decode_string(const char *p, const char *end)
{
	char *out = malloc((size_t)(end - p) + 1), *o = out;
	if (!out)
		return NULL;
	for (p++; p < end - 1; p++) {
		char c = *p;
		if (c == '\\') {
			c = *++p;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': case 'f': c = ' '; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4 && p[1] && p + 1 < end - 1; i++) {
					char h = *++p;
					v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
				}
				c = v >= 0x20 && v < 0x7f ? (char)v : v == '\n' ? '\n' : '?';
				break;
			}
			default: break;   /* \" \\ \/ */
			}
		}
		*o++ = c;
	}
	*o = 0;
	return out;
}

char *arc_json_get(const char *json, const char *path)
{
	const char *p = ws(json);

	while (*path) {
		const char *dot = strchr(path, '.');
		size_t klen = dot ? (size_t)(dot - path) : strlen(path);
		bool found = false;

		if (*p != '{')
			return NULL;
		p = ws(p + 1);
		while (*p == '"') {
			const char *k = p, *ke = skip_string(p);
			if (!ke)
				return NULL;
			p = ws(ke);
			if (*p != ':')
				return NULL;
			p = ws(p + 1);
			if ((size_t)(ke - k - 2) == klen && !memcmp(k + 1, path, klen)) {
				found = true;
				break;
			}
			if (!(p = skip_value(p, 0)))
				return NULL;
			p = ws(p);
			if (*p == ',')
				p = ws(p + 1);
		}
		if (!found)
			return NULL;
		path += klen + (dot ? 1 : 0);
	}
	const char *end = skip_value(p, 0);
	if (!end)
		return NULL;
	if (*p == '"')
		return decode_string(p, end);
	if (!strncmp(p, "null", 4))
		return NULL;
	char *v = malloc((size_t)(end - p) + 1);
	if (v) {
		memcpy(v, p, (size_t)(end - p));
		v[end - p] = 0;
	}
	return v;
}
