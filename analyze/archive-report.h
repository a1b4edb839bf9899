/* archive-report.h - `salvage archive report` (archive-report.c), called by
 * archive.c. */
#ifndef SALVAGE_AZ_ARCHIVE_REPORT_H
#define SALVAGE_AZ_ARCHIVE_REPORT_H

#include "../archive/archive.h"

/* Write index.html, group-SIGID.html and dump-ID.html (for at most limit
 * dumps, newest first within each group; 0: all) into dir.  -1 with err. */
int az_archive_report(struct arc_db *db, const char *dir, int64_t limit, char *err, size_t errlen);

#endif
