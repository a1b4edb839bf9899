/* internal.h - shared between the xen-notes library's own files; not installed. */
#ifndef SALVAGE_XNOTE_INTERNAL_H
#define SALVAGE_XNOTE_INTERNAL_H

#include "xnote.h"
#include "../common/le.h"

/* Format a message into err (XNOTE_ERR_MAX bytes) and return rc, for
 * "return xnote_set_err(p->err, XNOTE_NOPAGE, ...)". */
int xnote_set_err(char err[XNOTE_ERR_MAX], int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
