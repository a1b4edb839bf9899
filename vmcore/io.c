/* io.c - byte sources: a file descriptor or a memory buffer. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct io_fd {
	struct vmc_io io;
	int fd;
	bool owned;
};

static int fd_read(vmc_dump *d, struct vmc_io *io, void *buf, size_t len,
		   uint64_t off, size_t *got)
{
	struct io_fd *f = (struct io_fd *)io;
	uint8_t *p = buf;
	size_t done = 0;

	*got = 0;
	if (off >= io->size)
		return VMC_OK;
	if (len > io->size - off)
		len = (size_t)(io->size - off);
	while (done < len) {
		ssize_t n = pread(f->fd, p + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vmc_set_err(d, VMC_ERR_SYSTEM, "read at 0x%llx: %s",
					   (unsigned long long)(off + done),
					   strerror(errno));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return VMC_OK;
}

static void fd_destroy(struct vmc_io *io)
{
	struct io_fd *f = (struct io_fd *)io;
	if (f->owned)
		close(f->fd);
	free(f);
}

struct vmc_io *vmc_io_fd_create(vmc_dump *d, int fd, bool owned)
{
	struct io_fd *f;
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0) {
		vmc_set_err(d, VMC_ERR_SYSTEM, "stat: %s", strerror(errno));
		return NULL;
	}
	if (S_ISREG(st.st_mode)) {
		end = st.st_size;
	} else {
		/* block devices report no st_size */
		end = lseek(fd, 0, SEEK_END);
		if (end < 0) {
			vmc_set_err(d, VMC_ERR_SYSTEM,
				    "input is not seekable (%s); save the stream to a file first",
				    strerror(errno));
			return NULL;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	f->io.read = fd_read;
	f->io.destroy = fd_destroy;
	f->io.size = (uint64_t)end;
	f->io.stored = f->io.size;
	f->fd = fd;
	f->owned = owned;
	return &f->io;
}

struct io_mem {
	struct vmc_io io;
	const uint8_t *buf;
};

static int mem_read(vmc_dump *d, struct vmc_io *io, void *buf, size_t len,
		    uint64_t off, size_t *got)
{
	struct io_mem *m = (struct io_mem *)io;
	(void)d;
	*got = 0;
	if (off >= io->size)
		return VMC_OK;
	if (len > io->size - off)
		len = (size_t)(io->size - off);
	memcpy(buf, m->buf + off, len);
	*got = len;
	return VMC_OK;
}

static void mem_destroy(struct vmc_io *io)
{
	free(io);
}

struct vmc_io *vmc_io_mem_create(vmc_dump *d, const void *buf, size_t len)
{
	struct io_mem *m = calloc(1, sizeof(*m));
	(void)d;
	if (!m)
		return NULL;
	m->io.read = mem_read;
	m->io.destroy = mem_destroy;
	m->io.size = len;
	m->io.stored = len;
	m->buf = buf;
	return &m->io;
}
