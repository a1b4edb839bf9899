/* columns.c - struct arc_dump's fields as the dumps table's columns, one
 * table for both backends (internal.h, ARC_DUMP_COLUMNS). */
#include "internal.h"

#include <stddef.h>

#define ARC_COL_ENTRY_(c, f, k) { ARC_COL_##k, offsetof(struct arc_dump, f) },
const struct arc_col arc_cols[] = { ARC_DUMP_COLUMNS(ARC_COL_ENTRY_) };
const size_t arc_ncols = sizeof(arc_cols) / sizeof(arc_cols[0]);

static const void *field(const struct arc_dump *d, size_t i)
{
	return (const char *)d + arc_cols[i].off;
}

const char *arc_col_text(const struct arc_dump *d, size_t i)
{
	return *(const char *const *)field(d, i);
}

int64_t arc_col_num(const struct arc_dump *d, size_t i)
{
	switch (arc_cols[i].kind) {
	case ARC_COL_NUM: return *(const int64_t *)field(d, i);
	case ARC_COL_FLAG: return *(const bool *)field(d, i);
	case ARC_COL_INT: return *(const int *)field(d, i);
	case ARC_COL_TEXT: break;
	}
	return -1;
}

void arc_row_read(struct arc_dump *d, void *src, arc_cell_text_fn text, arc_cell_num_fn num)
{
	*d = (struct arc_dump){ .id = num(src, 0) };
	for (size_t i = 0; i < arc_ncols; i++) {
		char *f = (char *)d + arc_cols[i].off;
		int c = (int)i + 1;
		switch (arc_cols[i].kind) {
		case ARC_COL_TEXT: *(const char **)f = text(src, c); break;
		case ARC_COL_NUM: *(int64_t *)f = num(src, c); break;
		case ARC_COL_FLAG: *(bool *)f = num(src, c) > 0; break;
		case ARC_COL_INT: *(int *)f = (int)num(src, c); break;
		}
	}
	d->labels = text(src, (int)arc_ncols + 1);
}
