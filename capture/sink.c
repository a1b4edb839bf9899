/* sink.c - where the dump goes: a seekable file, or makedumpfile's flattened
 * stream (every write becomes a record "offset, size, bytes"), which needs no
 * seeks and can go to a pipe or a socket.
 *
 * Writes are positional.  Consecutive writes are coalesced in one cache so
 * that page data leaves in large writes (and large flattened records).  The
 * sink remembers how far the data stream really reached the file, so that on
 * ENOSPC the writer can tell which pages were saved.
 */
#include "internal.h"
#include "../common/le.h"
#include "../vmcore/kdump-format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(struct cap_sink *s, const void *buf, size_t len, uint64_t off,
		     size_t *done)
{
	const uint8_t *p = buf;

	*done = 0;
	while (*done < len) {
		size_t want = len - *done;
		ssize_t n;

		if (s->fail_after) {
			if (s->bytes_written >= s->fail_after)
				return -ENOSPC;
			/* a record header or end marker goes out whole or not at
			 * all, as a small write to a pipe does: half an end marker
			 * would hide every record after it */
			if (s->flat && len <= 16 && !*done && s->fail_after - s->bytes_written < len)
				return -ENOSPC;
			if (want > s->fail_after - s->bytes_written)
				want = (size_t)(s->fail_after - s->bytes_written);
		}
		if (s->flat)
			n = write(s->fd, p + *done, want);
		else
			n = pwrite(s->fd, p + *done, want, (off_t)(off + *done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		*done += (size_t)n;
		s->bytes_written += (uint64_t)n;
	}
	return 0;
}

/* Flushing as we go.  A regular output file gets a flusher thread: every
 * FLUSH_CHUNK bytes written, it makes what is there durable (fdatasync) while
 * the next pages are compressed.  The final fsync then has only the tail
 * left, instead of the whole dump's writeback and device flush; dirty page
 * cache stays small (the crash kernel has little memory); and if the machine
 * resets mid-dump, what was flushed is on disk.  An error the flusher sees is
 * kept and returned by cap_sink_sync, since the kernel reports a writeback
 * error to a file only once.  Without the thread (it could not be started),
 * writeback is at least started with sync_file_range. */
#define FLUSH_CHUNK (4u << 20)

static void *flusher_main(void *arg)
{
	struct cap_sink *s = arg;

	pthread_mutex_lock(&s->fl_lock);
	for (;;) {
		while (s->fl_req == s->fl_done && !s->fl_stop)
			pthread_cond_wait(&s->fl_cond, &s->fl_lock);
		if (s->fl_req == s->fl_done)
			break;
		uint64_t req = s->fl_req;
		pthread_mutex_unlock(&s->fl_lock);
		int e = fdatasync(s->fd) < 0 ? errno : 0;
		if (s->fail_flush) {
			s->fail_flush = false;
			e = EIO;
		}
		pthread_mutex_lock(&s->fl_lock);
		if (e && e != EINVAL && e != EROFS && !s->fl_err)
			s->fl_err = -e;
		s->fl_done = req;
	}
	pthread_mutex_unlock(&s->fl_lock);
	return NULL;
}

static void flusher_start(struct cap_sink *s)
{
	struct stat st;

	if (s->flat || fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	pthread_mutex_init(&s->fl_lock, NULL);
	pthread_cond_init(&s->fl_cond, NULL);
	if (pthread_create(&s->fl_thread, NULL, flusher_main, s) != 0) {
		pthread_mutex_destroy(&s->fl_lock);
		pthread_cond_destroy(&s->fl_cond);
		return;
	}
	s->fl_on = true;
}

/* Let the flusher finish its flush and stop; returns the error it saw. */
static int flusher_stop(struct cap_sink *s)
{
	if (!s->fl_on)
		return 0;
	pthread_mutex_lock(&s->fl_lock);
	s->fl_stop = true;
	pthread_cond_signal(&s->fl_cond);
	pthread_mutex_unlock(&s->fl_lock);
	pthread_join(s->fl_thread, NULL);
	pthread_mutex_destroy(&s->fl_lock);
	pthread_cond_destroy(&s->fl_cond);
	s->fl_on = false;
	return s->fl_err;
}

/* After a write of len bytes: ask for a flush when due.  A device that
 * failed a flush fails the write too, as it would fail a direct write. */
static int flush_as_we_go(struct cap_sink *s, size_t len)
{
	int rc = 0;

	s->unflushed += len;
	if (s->unflushed < FLUSH_CHUNK)
		return 0;
	s->unflushed = 0;
	if (s->fl_on) {
		pthread_mutex_lock(&s->fl_lock);
		rc = s->fl_err;
		s->fl_req++;    /* one request covers all writes before it */
		pthread_cond_signal(&s->fl_cond);
		pthread_mutex_unlock(&s->fl_lock);
	} else if (!s->flat) {
		(void)sync_file_range(s->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	return rc;
}

/* Best effort after a write error inside a flattened record: the rest of
 * its header, then zeros for the data that did not make it (the failure
 * hook does not apply: a real full disk fails here too, and nothing is lost
 * by trying). */
static void complete_record(struct cap_sink *s, const uint8_t *hdr, size_t hdone, size_t left)
{
	static const uint8_t zeros[4096];
	uint64_t saved = s->fail_after;
	size_t done;

	s->fail_after = 0;
	if (hdone < 16 && write_all(s, hdr + hdone, 16 - hdone, 0, &done) < 0)
		left = 0;
	while (left) {
		size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
		if (write_all(s, zeros, n, 0, &done) < 0)
			break;
		left -= n;
	}
	s->fail_after = saved;
}

/* Write [off, off+len) to the output now. */
static int emit(struct cap_sink *s, uint64_t off, const void *buf, size_t len)
{
	size_t done;
	int rc;

	if (!len)
		return 0;
	if (s->flat) {
		uint8_t hdr[FLAT_REC_HDR];
		size_t hdone;
		be_put64(hdr, off);
		be_put64(hdr + 8, len);
		rc = write_all(s, hdr, sizeof(hdr), 0, &hdone);
		done = 0;
		if (rc == 0)
			rc = write_all(s, buf, len, 0, &done);
		/* a cut record is useless to a reader: nothing of it counts,
		 * but it is completed so that later records (the incomplete
		 * flag) are not read as its data */
		if (rc < 0) {
			if (hdone)
				complete_record(s, hdr, hdone, len - done);
			return rc;
		}
	} else {
		rc = write_all(s, buf, len, off, &done);
		if (off == s->data_end)
			s->data_end += done;
		if (rc < 0)
			return rc;
	}
	if (off + len > s->size)
		s->size = off + len;
	if (s->flat && off == s->data_end)
		s->data_end += len;
	return flush_as_we_go(s, len);
}

/* The output file: created exclusively unless overwriting is allowed, and
 * never through a symbolic link (a dangling one would create its target). */
static int open_output(const char *path, bool overwrite)
{
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd;

	fd = open(path, flags | (overwrite ? 0 : O_EXCL), 0600);
	if (fd < 0)
		return -errno;
	/* truncate only regular files: a device given with -f is written in place */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size && ftruncate(fd, 0) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int cap_sink_open(struct cap_sink *s, const char *path, bool flat, size_t cache,
		  uint64_t fail_after, bool fail_flush, bool overwrite)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->fail_flush = fail_flush;
	s->flat = flat;
	s->fail_after = fail_after;
	s->cache_cap = cache;
	s->cache = malloc(cache);
	if (!s->cache)
		return -ENOMEM;
	if (flat && strcmp(path, "-") == 0) {
		s->fd = STDOUT_FILENO;
	} else {
		s->fd = open_output(path, overwrite);
		if (s->fd < 0) {
			int e = s->fd;
			free(s->cache);
			s->cache = NULL;
			return e;
		}
		s->owned = true;
	}
	flusher_start(s);
	if (flat) {
		uint8_t hdr[FLAT_HDR_SIZE];
		size_t done;
		memset(hdr, 0, sizeof(hdr));
		memcpy(hdr, FLAT_SIGNATURE, sizeof(FLAT_SIGNATURE) - 1);
		be_put64(hdr + FLAT_HDR_TYPE, FLAT_TYPE_HEADER);
		be_put64(hdr + FLAT_HDR_VERSION, FLAT_VERSION);
		rc = write_all(s, hdr, sizeof(hdr), 0, &done);
		if (rc < 0) {
			/* the caller gets no sink to close, and a file that
			 * does not even start a stream is no dump */
			bool created = s->owned;
			cap_sink_close(s);
			if (created)
				unlink(path);
			return rc;
		}
	}
	return 0;
}

int cap_sink_flush(struct cap_sink *s)
{
	int rc = emit(s, s->cache_off, s->cache, s->cache_len);
	s->cache_len = 0;
	return rc;
}

int cap_sink_write(struct cap_sink *s, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (s->cache_len && off != s->cache_off + s->cache_len) {
		rc = cap_sink_flush(s);
		if (rc < 0)
			return rc;
	}
	if (!s->cache_len)
		s->cache_off = off;
	while (len) {
		size_t n = s->cache_cap - s->cache_len;
		if (n > len)
			n = len;
		memcpy(s->cache + s->cache_len, p, n);
		s->cache_len += n;
		p += n;
		len -= n;
		if (s->cache_len == s->cache_cap) {
			uint64_t next = s->cache_off + s->cache_len;
			rc = cap_sink_flush(s);
			if (rc < 0)
				return rc;
			s->cache_off = next;
		}
	}
	return 0;
}

/* Reserve [0, len) on disk so that later writes there cannot hit ENOSPC. */
int cap_sink_reserve(struct cap_sink *s, uint64_t len)
{
	int rc;

	if (s->flat || !len)
		return 0;
	rc = posix_fallocate(s->fd, 0, (off_t)len);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		return 0;  /* filesystems without fallocate: nothing reserved */
	if (rc == 0 && s->fail_after && len > s->fail_after)
		rc = ENOSPC;
	return -rc;
}

/* Mark where the data stream starts: data_end tracks how far it got. */
void cap_sink_data_start(struct cap_sink *s, uint64_t off)
{
	s->data_end = off;
}

int cap_sink_sync(struct cap_sink *s)
{
	int rc = flusher_stop(s);

	if (s->flat)
		return 0;
	if (fsync(s->fd) < 0 && errno != EINVAL && errno != EROFS)
		return -errno;
	return rc;
}

/* A flattened stream ends with a record whose offset and size are -1. */
int cap_sink_finish(struct cap_sink *s)
{
	uint8_t end[16];
	size_t done;
	int rc = cap_sink_flush(s);

	if (rc < 0 || !s->flat)
		return rc;
	memset(end, 0xff, sizeof(end));
	return write_all(s, end, sizeof(end), 0, &done);
}

int cap_sink_close(struct cap_sink *s)
{
	int rc = flusher_stop(s);
	if (s->owned && close(s->fd) < 0)
		rc = -errno;
	free(s->cache);
	s->cache = NULL;
	s->owned = false;
	return rc;
}

/* Patch a few bytes after the fact (file mode: the incomplete flag).
 * Bypasses the injected failure: the space is already allocated. */
int cap_sink_patch(struct cap_sink *s, uint64_t off, const void *buf, size_t len)
{
	if (s->flat) {
		uint64_t saved = s->fail_after;
		s->fail_after = 0;
		int rc = emit(s, off, buf, len);
		s->fail_after = saved;
		return rc;
	}
	ssize_t n = pwrite(s->fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}
