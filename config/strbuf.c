/* strbuf.c - growable text buffer (API in strbuf.h). */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_add(struct strbuf *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (n >= b->cap - b->len || !b->s) {
		size_t cap = b->len + n + 1;
		char *s;

		if (cap < b->len) {   /* wrapped */
			b->failed = true;
			return;
		}
		cap = cap < 256 ? 256 : cap * 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = 0;
}

void strbuf_puts(struct strbuf *b, const char *p)
{
	strbuf_add(b, p, strlen(p));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[256], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		strbuf_add(b, tmp, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	strbuf_add(b, big, (size_t)n);
	free(big);
}
