/* receive-store.c - one transfer's files for `salvage receive` (DESIGN.md
 * "Dumps over the network"): DIR/.incoming/FINGERPRINT-ID/ with the state
 * file and the three parts, the durable prefix a resumed transfer continues
 * from, the flusher thread whose fdatasyncs the ACKs name, the reassembly of
 * a flattened stream and the final renames (meta.json last, then the
 * directory to its name). */
#include "receive.h"
#include "../common/fsync.h"
#include "../common/le.h"
#include "../vmcore/kdump-format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* in stream order: the dump, dmesg.txt, meta.json */
static const char *const part_name[NET_FILES] = { "vmcore.part", "dmesg.txt.part", "meta.json.part" };
static const char *const final_name[NET_FILES] = { "vmcore", "dmesg.txt", "meta.json" };

static void *flusher_main(void *arg)
{
	struct xfer *x = arg;

	pthread_mutex_lock(&x->fl_m);
	for (;;) {
		while (x->fl_req == x->fl_taken && !x->fl_stop)
			pthread_cond_wait(&x->fl_cv, &x->fl_m);
		if (x->fl_req == x->fl_taken)
			break;
		/* one fdatasync covers every request made before it */
		uint64_t req = x->fl_taken = x->fl_req;
		pthread_mutex_unlock(&x->fl_m);
		int rc = xfer_sync(x);
		pthread_mutex_lock(&x->fl_m);
		if (rc < 0 && !x->fl_err)
			x->fl_err = rc;
		x->fl_done = req;
	}
	pthread_mutex_unlock(&x->fl_m);
	return NULL;
}

/* Start the flusher (without one, flushes are done in the session). */
void xfer_flusher_start(struct xfer *x, uint64_t durable)
{
	pthread_attr_t at;

	x->fl_done = x->fl_req = x->fl_taken = durable;
	pthread_mutex_init(&x->fl_m, NULL);
	pthread_cond_init(&x->fl_cv, NULL);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64u << 10);
	x->fl_on = pthread_create(&x->fl_th, &at, flusher_main, x) == 0;
	pthread_attr_destroy(&at);
	if (!x->fl_on) {
		pthread_mutex_destroy(&x->fl_m);
		pthread_cond_destroy(&x->fl_cv);
	}
}

/* Ask for the parts up to off (0: nothing new) to be made durable, without
 * waiting; *durable: how far the flushes done so far reach.  The flusher
 * runs at the disk's pace: requests made while it works are merged. */
static int flush_request(struct xfer *x, uint64_t off, uint64_t *durable)
{
	int rc;

	if (!x->fl_on) {
		if (off && (rc = xfer_sync(x)) < 0)
			return rc;
		if (off)
			x->fl_done = off;
		*durable = x->fl_done;
		return 0;
	}
	pthread_mutex_lock(&x->fl_m);
	*durable = x->fl_done;
	rc = x->fl_err;
	if (off > x->fl_req) {
		x->fl_req = off;
		pthread_cond_signal(&x->fl_cv);
	}
	pthread_mutex_unlock(&x->fl_m);
	return rc;
}

static void flusher_stop(struct xfer *x)
{
	if (!x->fl_on)
		return;
	pthread_mutex_lock(&x->fl_m);
	x->fl_stop = true;
	pthread_cond_signal(&x->fl_cv);
	pthread_mutex_unlock(&x->fl_m);
	pthread_join(x->fl_th, NULL);
	pthread_mutex_destroy(&x->fl_m);
	pthread_cond_destroy(&x->fl_cv);
	x->fl_on = false;
}

int xfer_flush_state(struct xfer *x, uint64_t *durable, uint64_t *asked)
{
	int rc;

	if (!x->fl_on) {
		*durable = *asked = x->fl_done;
		return 0;
	}
	pthread_mutex_lock(&x->fl_m);
	*durable = x->fl_done;
	*asked = x->fl_req;
	rc = x->fl_err;
	pthread_mutex_unlock(&x->fl_m);
	return rc;
}

/* Write and MAC one record; a flush asked for every ACK_EVERY bytes. */
static int write_one(struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
	uint64_t durable;
	int rc = xfer_write(x, off, p, n);

	if (rc < 0)
		return rc;
	net_mac_update(&x->mac, p, n);
	x->wr_done = off + n;
	if (x->wr_done - x->wr_asked >= ACK_EVERY) {
		x->wr_asked = x->wr_done;
		return flush_request(x, x->wr_done, &durable);
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct xfer *x = arg;

	pthread_mutex_lock(&x->wr_m);
	for (;;) {
		while (x->wr_head == x->wr_tail && !x->wr_stop)
			pthread_cond_wait(&x->wr_cv, &x->wr_m);
		if (x->wr_head == x->wr_tail)
			break;
		unsigned i = x->wr_tail % XFER_SLOTS;
		bool failed = x->wr_err != 0;
		pthread_mutex_unlock(&x->wr_m);
		/* after an error the rest is dropped: the session stops */
		int rc = failed ? 0 : write_one(x, x->wr_off[i], x->wr_p[i], x->wr_n[i]);
		pthread_mutex_lock(&x->wr_m);
		if (rc < 0 && !x->wr_err)
			x->wr_err = rc;
		x->wr_tail++;
		pthread_cond_broadcast(&x->wr_cv);
	}
	pthread_mutex_unlock(&x->wr_m);
	return NULL;
}

int xfer_writer_start(struct xfer *x, uint64_t off)
{
	pthread_attr_t at;

	x->wr_done = x->wr_asked = off;
	x->wr_head = x->wr_tail = 0;
	x->wr_err = 0;
	x->wr_mem = malloc((size_t)XFER_SLOTS * NET_REC_MAX);
	if (!x->wr_mem)
		return -ENOMEM;
	pthread_mutex_init(&x->wr_m, NULL);
	pthread_cond_init(&x->wr_cv, NULL);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64u << 10);
	x->wr_on = pthread_create(&x->wr_th, &at, writer_main, x) == 0;
	pthread_attr_destroy(&at);
	if (!x->wr_on) {
		pthread_mutex_destroy(&x->wr_m);
		pthread_cond_destroy(&x->wr_cv);
	}
	return 0;
}

uint8_t *xfer_slot(struct xfer *x)
{
	if (!x->wr_on)
		return x->wr_mem;
	pthread_mutex_lock(&x->wr_m);
	while (x->wr_head - x->wr_tail >= XFER_SLOTS)
		pthread_cond_wait(&x->wr_cv, &x->wr_m);
	uint8_t *p = x->wr_mem + (size_t)(x->wr_head % XFER_SLOTS) * NET_REC_MAX;
	pthread_mutex_unlock(&x->wr_m);
	return p;
}

int xfer_put(struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
	uint64_t durable, asked;
	int rc;

	if (!x->wr_on) {
		if ((rc = write_one(x, off, p, n)) < 0)
			return rc;
		return xfer_flush_state(x, &durable, &asked);
	}
	pthread_mutex_lock(&x->wr_m);
	unsigned i = x->wr_head % XFER_SLOTS;
	x->wr_p[i] = p;
	x->wr_n[i] = n;
	x->wr_off[i] = off;
	x->wr_head++;
	rc = x->wr_err;
	pthread_cond_broadcast(&x->wr_cv);
	pthread_mutex_unlock(&x->wr_m);
	if (rc == 0)
		rc = xfer_flush_state(x, &durable, &asked);
	return rc;
}

int xfer_drain(struct xfer *x)
{
	int rc;

	if (!x->wr_on)
		return 0;
	pthread_mutex_lock(&x->wr_m);
	while (x->wr_head != x->wr_tail)
		pthread_cond_wait(&x->wr_cv, &x->wr_m);
	rc = x->wr_err;
	pthread_mutex_unlock(&x->wr_m);
	return rc;
}

static void writer_stop(struct xfer *x)
{
	if (x->wr_on) {
		pthread_mutex_lock(&x->wr_m);
		x->wr_stop = true;
		pthread_cond_broadcast(&x->wr_cv);
		pthread_mutex_unlock(&x->wr_m);
		pthread_join(x->wr_th, NULL);
		pthread_mutex_destroy(&x->wr_m);
		pthread_cond_destroy(&x->wr_cv);
		x->wr_on = false;
	}
	free(x->wr_mem);
	x->wr_mem = NULL;
}

void xfer_close(struct xfer *x)
{
	writer_stop(x);
	flusher_stop(x);
	net_mac_free(&x->mac);
	for (int i = 0; i < NET_FILES; i++)
		if (x->fd[i] >= 0)
			close(x->fd[i]);
	if (x->dfd >= 0)
		close(x->dfd);
	x->dfd = -1;
	for (int i = 0; i < NET_FILES; i++)
		x->fd[i] = -1;
	if (x->slot >= 0) {
		pthread_mutex_lock(&rx_lock);
		rx_active_used[x->slot] = false;
		pthread_mutex_unlock(&rx_lock);
		x->slot = -1;
	}
}

/* Remove the transfer's directory: nothing of a refused stream is kept. */
void xfer_discard(struct xfer *x)
{
	if (x->dfd >= 0) {
		for (int i = 0; i < NET_FILES; i++)
			unlinkat(x->dfd, part_name[i], 0);
		unlinkat(x->dfd, "state", 0);
		unlinkat(x->dfd, "vmcore.tmp", 0);
	}
	xfer_close(x);
	rmdir(x->dir);
}

static int fsync_dir(const char *path)
{
	return sv_fsync_path(path, O_DIRECTORY);
}

uint64_t rx_free_bytes(const char *dir)
{
	struct statvfs v;

	if (statvfs(dir, &v) < 0)
		return 0;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Claim (agent key, transfer id): one connection per transfer at a time. */
int rx_claim(const uint8_t *pk, const uint8_t *id)
{
	int free_slot = -1;

	pthread_mutex_lock(&rx_lock);
	for (int i = 0; i < MAX_ACTIVE_IDS; i++) {
		if (!rx_active_used[i]) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!memcmp(rx_active_ids[i], pk, NET_KEY_BYTES) &&
		    !memcmp(rx_active_ids[i] + NET_KEY_BYTES, id, NET_ID_BYTES)) {
			free_slot = -2;
			break;
		}
	}
	if (free_slot >= 0) {
		memcpy(rx_active_ids[free_slot], pk, NET_KEY_BYTES);
		memcpy(rx_active_ids[free_slot] + NET_KEY_BYTES, id, NET_ID_BYTES);
		rx_active_used[free_slot] = true;
	}
	pthread_mutex_unlock(&rx_lock);
	return free_slot;
}

/* The three parts' sizes: before SIZES the dump may fill the whole bound. */
int xfer_set_sizes(struct xfer *x, const uint64_t size[NET_FILES], bool known)
{
	uint64_t total = 0;

	for (int i = 0; i < NET_FILES; i++) {
		if (size[i] > UINT64_MAX - total)
			return -EOVERFLOW;
		x->size[i] = size[i];
		x->start[i] = total;
		total += size[i];
	}
	x->start[NET_FILES] = total;
	if (total > x->bound)
		return -EFBIG;
	if (known && (size[F_META] > META_MAX || size[F_DMESG] > DMESG_MAX))
		return -E2BIG;
	x->sizes_known = known;
	return 0;
}

/* Open or create the transfer's directory; *resume = the durable offset. */
int xfer_open(struct xfer *x, const struct session *s, const uint8_t *peer,
		     uint64_t *resume, char *why, size_t whylen)
{
	char fp[17], idhex[2 * NET_ID_BYTES + 1], path[4200];
	uint8_t old[NET_OPEN_BYTES + NET_SIZES_BYTES];
	bool fresh = false;
	uint64_t have[NET_FILES];
	int sfd;

	net_fingerprint(peer, fp);
	sodium_bin2hex(idhex, sizeof(idhex), x->open_msg, NET_ID_BYTES);
	snprintf(path, sizeof(path), "%s/.incoming", rx_opt.dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return snprintf(why, whylen, "%.300s: %s", path, strerror(errno)), -1;
	if (snprintf(x->dir, sizeof(x->dir), "%s/%s-%s", path, fp, idhex) >= (int)sizeof(x->dir))
		return snprintf(why, whylen, "directory name too long"), -1;
	if (mkdir(x->dir, 0700) == 0)
		fresh = true;
	else if (errno != EEXIST)
		return snprintf(why, whylen, "%.300s: %s", x->dir, strerror(errno)), -1;
	x->dfd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->dfd < 0)
		return snprintf(why, whylen, "%.300s: %s", x->dir, strerror(errno)), -1;
	sfd = openat(x->dfd, "state", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sfd < 0)
		return snprintf(why, whylen, "%.300s/state: %s", x->dir, strerror(errno)), -1;
	ssize_t got = pread(sfd, old, sizeof(old), 0);
	if (got >= (ssize_t)NET_OPEN_BYTES) {
		if (memcmp(old, x->open_msg, NET_OPEN_BYTES)) {
			close(sfd);
			return snprintf(why, whylen, "resumed transfer announces another bound"), -1;
		}
		if (got == (ssize_t)sizeof(old)) {
			uint64_t sz[NET_FILES];
			for (int i = 0; i < NET_FILES; i++)
				sz[i] = net_get64(old + NET_OPEN_BYTES + 8 * i);
			if (xfer_set_sizes(x, sz, true) < 0) {
				close(sfd);
				return snprintf(why, whylen, "the stored sizes are out of range"), -1;
			}
		}
	} else if (pwrite(sfd, x->open_msg, sizeof(x->open_msg), 0) != (ssize_t)sizeof(x->open_msg) ||
		   fsync(sfd) < 0) {
		close(sfd);
		return snprintf(why, whylen, "%.300s/state: %s", x->dir, strerror(errno)), -1;
	} else
		fresh = true;
	close(sfd);
	for (int i = 0; i < NET_FILES; i++) {
		struct stat st;
		x->fd[i] = openat(x->dfd, part_name[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (x->fd[i] < 0 || fstat(x->fd[i], &st) < 0 || fsync(x->fd[i]) < 0)
			return snprintf(why, whylen, "%.300s/%s: %s", x->dir, part_name[i],
					strerror(errno)), -1;
		have[i] = (uint64_t)st.st_size;
	}
	/* the durable prefix: whole files in order, then one partial file */
	*resume = 0;
	for (int i = 0; i < NET_FILES; i++) {
		bool earlier_full = *resume == x->start[i];
		if (have[i] > x->size[i] || (have[i] && !earlier_full)) {
			rlog(s, "stored parts of this transfer disagree: restarting it at 0");
			for (int j = 0; j < NET_FILES; j++)
				if (ftruncate(x->fd[j], 0) < 0)
					return snprintf(why, whylen, "truncate: %s", strerror(errno)), -1;
			*resume = 0;
			break;
		}
		if (earlier_full)
			*resume += have[i];
	}
	if (fresh)
		fsync_dir(x->dir);
	return 0;
}

/* SIZES: the dump has ended at the offset reached; kept in the state file
 * (fsynced) before any byte past the dump is stored. */
int xfer_sizes(struct xfer *x, const uint8_t *msg, uint64_t off, char *why, size_t whylen)
{
	uint64_t sz[NET_FILES];
	uint8_t old[NET_SIZES_BYTES];

	for (int i = 0; i < NET_FILES; i++)
		sz[i] = net_get64(msg + 8 * i);
	if (x->sizes_known) {
		for (int i = 0; i < NET_FILES; i++)
			net_put64(old + 8 * i, x->size[i]);
		if (memcmp(old, msg, sizeof(old)))
			return snprintf(why, whylen, "the sizes differ from the ones announced before"), -1;
		return 0;
	}
	if (sz[F_DUMP] != off)
		return snprintf(why, whylen, "the dump ends at %" PRIu64 " but %" PRIu64 " came",
				sz[F_DUMP], off), -1;
	int rc = xfer_set_sizes(x, sz, true);
	if (rc < 0)
		return snprintf(why, whylen, "sizes %s", rc == -E2BIG ? "of meta.json or dmesg.txt "
				"too large" : "above the announced bound"), -1;
	int sfd = openat(x->dfd, "state", O_WRONLY | O_CLOEXEC);
	if (sfd < 0 || pwrite(sfd, msg, NET_SIZES_BYTES, NET_OPEN_BYTES) != NET_SIZES_BYTES ||
	    fsync(sfd) < 0) {
		snprintf(why, whylen, "state: %s", strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return -1;
	}
	close(sfd);
	return 0;
}

/* Write bytes at stream offset off, across the file boundaries. */
int xfer_write(struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
	while (n) {
		int i = 0;
		while (i < NET_FILES - 1 && off >= x->start[i + 1])
			i++;
		uint64_t in = off - x->start[i], room = x->size[i] - in;
		size_t k = n < room ? n : (size_t)room;
		if (!k)
			return -EINVAL;
		ssize_t w = pwrite(x->fd[i], p, k, (off_t)in);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int xfer_sync(struct xfer *x)
{
	for (int i = 0; i < NET_FILES; i++)
		if (fdatasync(x->fd[i]) < 0)
			return -errno;
	return 0;
}

/* Start the stream's MAC with the stored prefix [0, upto): read back once,
 * when a transfer resumes; new bytes are hashed as they arrive. */
int xfer_hash_prefix(struct xfer *x, uint64_t upto, uint8_t *buf, size_t cap)
{
	int rc = net_mac_init(&x->mac, x->open_msg + NET_OPEN_BYTES - NET_MAC_KEY_BYTES);

	if (rc < 0)
		return rc;
	for (int i = 0; i < NET_FILES && upto > x->start[i]; i++) {
		uint64_t end = upto - x->start[i] < x->size[i] ? upto - x->start[i] : x->size[i];
		for (uint64_t off = 0; off < end;) {
			size_t want = end - off < cap ? (size_t)(end - off) : cap;
			ssize_t r = pread(x->fd[i], buf, want, (off_t)off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			net_mac_update(&x->mac, buf, (size_t)r);
			off += (uint64_t)r;
		}
	}
	return 0;
}

/* A streamed dump arrived as makedumpfile's flattened stream (docs/formats.md
 * §8.1): write each record at its offset into vmcore.tmp, which becomes the
 * dump file the agent would have written to a disk.  Every record is checked
 * against the part's size; a stream cut before its end marker (the capture
 * failed half-way) keeps the records it has. */
static int reassemble(struct xfer *x)
{
	uint8_t hdr[FLAT_HDR_SIZE], *buf;
	const size_t cap = 1u << 20;
	uint64_t in = FLAT_HDR_SIZE, len = x->size[F_DUMP];
	int out, rc = 0;

	if (len < FLAT_HDR_SIZE || pread(x->fd[F_DUMP], hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, FLAT_SIGNATURE, sizeof(FLAT_SIGNATURE) - 1) ||
	    be_get64(hdr + FLAT_HDR_TYPE) != FLAT_TYPE_HEADER)
		return -EBADMSG;
	if (!(buf = malloc(cap)))
		return -ENOMEM;
	out = openat(x->dfd, "vmcore.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		free(buf);
		return -errno;
	}
	while (rc == 0 && len - in >= FLAT_REC_HDR) {
		uint8_t rh[FLAT_REC_HDR];
		if (pread(x->fd[F_DUMP], rh, sizeof(rh), (off_t)in) != (ssize_t)sizeof(rh)) {
			rc = -EIO;
			break;
		}
		uint64_t off = be_get64(rh), n = be_get64(rh + 8);
		in += FLAT_REC_HDR;
		if (off == UINT64_MAX && n == UINT64_MAX)
			break;
		if (n > len - in || off > (uint64_t)INT64_MAX - n) {
			rc = -EBADMSG;
			break;
		}
		while (n && rc == 0) {
			size_t k = n < cap ? (size_t)n : cap;
			if (pread(x->fd[F_DUMP], buf, k, (off_t)in) != (ssize_t)k ||
			    pwrite(out, buf, k, (off_t)off) != (ssize_t)k)
				rc = errno ? -errno : -EIO;
			in += k;
			off += k;
			n -= k;
		}
	}
	free(buf);
	if (rc == 0 && fsync(out) < 0)
		rc = -errno;
	close(out);
	if (rc == 0 && renameat(x->dfd, "vmcore.tmp", x->dfd, final_name[F_DUMP]) < 0)
		rc = -errno;
	if (rc == 0)
		unlinkat(x->dfd, part_name[F_DUMP], 0);
	else
		unlinkat(x->dfd, "vmcore.tmp", 0);
	return rc;
}

/* Rename the parts (meta.json last) and the directory to its final name. */
int xfer_finish(struct xfer *x, const char *label, char *name, size_t namelen)
{
	char when[32], dst[4200];
	time_t t = (time_t)x->crash_time;
	struct tm tm;

	/* a crash time before 2000 or after 9999 is not a time: use ours */
	if (x->crash_time < 946684800ULL || x->crash_time > 253402300799ULL)
		t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	if (xfer_sync(x) < 0)
		return -errno;
	for (int i = 0; i < NET_FILES; i++) {
		if (i == F_DUMP && (x->flags & NET_OPEN_FLAT)) {
			int rc = reassemble(x);
			if (rc < 0)
				return rc;
		} else if (renameat(x->dfd, part_name[i], x->dfd, final_name[i]) < 0) {
			return -errno;
		}
		if (i == F_DMESG && fsync(x->dfd) < 0)
			return -errno;
	}
	unlinkat(x->dfd, "state", 0);
	if (fsync(x->dfd) < 0)
		return -errno;
	for (int n = 1; n <= 100; n++) {
		if (n == 1)
			snprintf(name, namelen, "%s-%s", label, when);
		else
			snprintf(name, namelen, "%s-%s-%d", label, when, n);
		snprintf(dst, sizeof(dst), "%s/%s", rx_opt.dir, name);
		if (renameat2(AT_FDCWD, x->dir, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
			return fsync_dir(rx_opt.dir);
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}
