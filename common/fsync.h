/* fsync.h - make what a path names durable (header only, a leaf every
 * library and program may include). */
#ifndef SALVAGE_COMMON_FSYNC_H
#define SALVAGE_COMMON_FSYNC_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* fsync the file path names, or the directory with flags O_DIRECTORY;
 * 0 or -errno. */
static inline int sv_fsync_path(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

#endif
