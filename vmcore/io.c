/* io.c - byte sources: a file descriptor or a memory buffer. */
#include "internal.h"

#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* mmap mode: the file is read through a few mapped windows, as makedumpfile
 * reads /proc/vmcore; tens of thousands of 4 KiB preads cost more than the
 * copies.  Windows are bounded, so memory use is too.  A page that cannot be
 * read (an I/O error, a poisoned page of old memory) raises SIGBUS inside the
 * copy: the handler jumps back and that read is retried with pread, which
 * reports the error normally. */
#define WIN_SHIFT 20                /* 1 MiB windows */
#define WIN_SIZE (1ULL << WIN_SHIFT)
#define NWIN 4
/* Reads this long or longer use pread even in mmap mode: one copy out of the
 * page cache costs less than faulting a window in and copying out of it.
 * /proc/vmcore is always read through the mapping: its read() maps each
 * page of old memory on its own. */
#define MAP_READ_MAX (32u << 10)

struct win {
	uint64_t off;               /* window-aligned file offset */
	uint8_t *p;                 /* NULL: unused */
	size_t len;
	uint64_t used;              /* for least-recently-used replacement */
};

struct io_fd {
	struct vmc_io io;
	int fd;
	bool owned;
	bool mmap_on;
	bool always_map;
	struct win win[NWIN];
	uint64_t tick;
};

static __thread sigjmp_buf *bus_jmp;

static void bus_handler(int sig)
{
	if (bus_jmp)
		siglongjmp(*bus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The SIGBUS handler is installed once per process, by whichever thread
 * first reads through a mapping, and only over the default action. */
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;
static bool bus_ours;   /* written once, under bus_once */

static void bus_install(void)
{
	struct sigaction old, sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bus_handler;
	/* not blocked while handled: we leave with siglongjmp */
	sa.sa_flags = SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	bus_ours = sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		   sigaction(SIGBUS, &sa, NULL) == 0;
}

static bool bus_handler_installed(void)
{
	pthread_once(&bus_once, bus_install);
	return bus_ours;
}

static struct win *window(struct io_fd *f, uint64_t off)
{
	uint64_t base = off & ~(WIN_SIZE - 1);
	struct win *w = NULL;

	for (int i = 0; i < NWIN; i++)
		if (f->win[i].p && f->win[i].off == base) {
			f->win[i].used = ++f->tick;
			return &f->win[i];
		}
	for (int i = 0; i < NWIN; i++)
		if (!w || !f->win[i].p || f->win[i].used < w->used)
			w = &f->win[i];
	if (w->p)
		munmap(w->p, w->len);
	w->p = NULL;
	w->len = base + WIN_SIZE > f->io.size ? (size_t)(f->io.size - base) : WIN_SIZE;
	void *p = mmap(NULL, w->len, PROT_READ, MAP_SHARED, f->fd, (off_t)base);
	if (p == MAP_FAILED)
		return NULL;
	w->p = p;
	w->off = base;
	w->used = ++f->tick;
	return w;
}

/* memcpy that returns false instead of dying when the source page faults */
static __attribute__((noinline)) bool guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		bus_jmp = NULL;
		return false;
	}
	bus_jmp = &jb;
	memcpy(dst, src, n);
	bus_jmp = NULL;
	return true;
}

/* Copy from the mapping; false if the caller must fall back to pread. */
static bool mapped_copy(struct io_fd *f, uint8_t *out, size_t len, uint64_t off)
{
	while (len) {
		struct win *w = window(f, off);
		if (!w) {
			f->mmap_on = false;   /* this file cannot be mapped */
			return false;
		}
		size_t in = (size_t)(off - w->off), n = w->len - in < len ? w->len - in : len;
		if (!guarded_copy(out, w->p + in, n))
			return false;
		out += n;
		off += n;
		len -= n;
	}
	return true;
}

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
	if (f->mmap_on && (f->always_map || len < MAP_READ_MAX) && mapped_copy(f, p, len, off)) {
		*got = len;
		return VMC_OK;
	}
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
	for (int i = 0; i < NWIN; i++)
		if (f->win[i].p)
			munmap(f->win[i].p, f->win[i].len);
	if (f->owned)
		close(f->fd);
	free(f);
}

struct vmc_io *vmc_io_fd_create(vmc_dump *d, int fd, bool owned, unsigned flags)
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
	struct statfs sf;
	f->always_map = fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
	f->mmap_on = ((flags & VMC_OPEN_MMAP) || ((flags & VMC_OPEN_MMAP_PROC) && f->always_map)) &&
		     bus_handler_installed();
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
