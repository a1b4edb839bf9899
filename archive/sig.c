/* sig.c - crash signature ids and the word lists the index keeps sorted.
 * What a signature says is the analyzer's (DESIGN.md, "Crash signatures"):
 * the library only names it by a hash. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void arc_sig_id_of(const char *s, char out[17])
{
	if (strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16) {
		memcpy(out, s, 17);
		return;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits(s, strlen(s)));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *arc_words_sorted(const char *s, char sep)
{
	size_t n = 1, len;
	char *copy, *out, **w;

	if (!s)
		return NULL;
	len = strlen(s);
	for (const char *p = s; *p; p++)
		n += *p == sep;
	copy = strdup(s);
	out = malloc(len + 1);
	w = malloc(n * sizeof(*w));
	if (!copy || !out || !w) {
		free(copy);
		free(out);
		free(w);
		return NULL;
	}
	n = 0;
	for (char *p = copy, *e; p; p = e) {
		e = strchr(p, sep);
		if (e)
			*e++ = 0;
		w[n++] = p;
	}
	qsort(w, n, sizeof(*w), cmp_str);
	out[0] = 0;
	for (size_t i = 0, o = 0; i < n; i++) {
		size_t l = strlen(w[i]);
		if (i)
			out[o++] = ' ';
		memcpy(out + o, w[i], l + 1);
		o += l;
	}
	free(copy);
	free(w);
	return out;
}

void arc_sig_set_id(struct arc_sig *s)
{
	arc_sig_id_of(s->text, s->id);
}
