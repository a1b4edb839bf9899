/* strbuf.h - a growable NUL-terminated text buffer (part of libsvconfig).
 *
 * Used where text is assembled before it is written whole: the agent's
 * meta.json, the image's modules.softdep and salvage.conf.  An allocation
 * failure is remembered (failed) and later appends do nothing, so callers
 * check once at the end.  The caller frees s.
 */
#ifndef SALVAGE_CONFIG_STRBUF_H
#define SALVAGE_CONFIG_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;           /* NULL until the first append */
	size_t len, cap;
	bool failed;
};

/* Append n bytes of p. */
void strbuf_add(struct strbuf *b, const char *p, size_t n);
/* Append a string. */
void strbuf_puts(struct strbuf *b, const char *p);
/* Append printf-formatted text. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
