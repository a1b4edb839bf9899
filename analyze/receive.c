/* receive.c - `salvage receive`: the receiver of dumps sent over the network
 * (DESIGN.md "Dumps over the network"; the transport is net/).
 *
 * One thread per connection, at most --max-clients of them, each with a
 * small stack and the fixed buffers of struct net_conn: memory is bounded per
 * connection and a slow or cut agent never blocks the others.  A transfer is
 * stored under DIR/.incoming/FINGERPRINT-ID/ (the state file, then
 * meta.json.part, dmesg.txt.part, vmcore.part as the bytes arrive); a
 * reconnecting agent resumes at the durable end of those files.  When the
 * whole stream's hash matches, the parts are fsynced, renamed (meta.json
 * last) and the directory renamed to DIR/LABEL-CRASHTIME, both names chosen
 * here: the label from the authorized-keys line, the time from the agent's
 * number.  A Poly1305 MAC under the transfer's key (sent in the open
 * message) covers what was written: it runs over the bytes as they are
 * stored, and over the stored prefix again when a transfer resumes.
 */
#include "salvage.h"
#include "../common/fsync.h"
#include "../net/net.h"
#include "../common/le.h"
#include "../vmcore/kdump-format.h"
#include "../archive/archive.h"
#include "archive-add.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ACK_EVERY (4u << 20)            /* bytes between flushes; an ACK lags one
					 * flush: under half the agent's smallest window */
#define META_MAX (1u << 20)             /* meta.json */
#define DMESG_MAX (256u << 20)          /* dmesg.txt */
#define STACK_BYTES (256u << 10)
#define MAX_ACTIVE_IDS 1024

static const char usage_text[] =
"usage: salvage receive --listen ADDR:PORT --dir DIR --key FILE\n"
"                       --authorized-keys FILE [OPTIONS]\n"
"\n"
"Receive dumps from crash-kernel agents (and salvage-capture --target net:).\n"
"Only agents whose public key is in the authorized-keys file are accepted; each\n"
"dump goes to DIR/LABEL-YYYYmmdd-HHMMSS (the key's label, the crash time, UTC).\n"
"  --key FILE            this receiver's private key (salvage keygen)\n"
"  --max-size SIZE       largest dump per agent (default 1T; an authorized-keys\n"
"                        line's limit=SIZE lowers it for that agent)\n"
"  --min-free SIZE       refuse or stop a transfer that would leave less free\n"
"                        space in DIR (default 1G)\n"
"  --max-clients N       connections at once (default 32)\n"
"  --timeout SECS        a silent connection is closed after SECS (default 60)\n"
"  --port-file FILE      write the port listened on (for --listen ADDR:0)\n"
"  --incoming-max-age SECS  remove a transfer's parts from DIR/.incoming\n"
"                        when nothing was written to them for SECS (default\n"
"                        604800, a week; at least 3600); checked hourly\n"
"  --archive DB          index each stored dump into the archive DB (an SQLite\n"
"                        file or a postgresql:// URL, as salvage archive --db)\n"
"                        after the agent has its answer; a failure is logged\n"
"                        and the dump stays stored\n"
"Sessions are logged to standard error.  SIGHUP reloads the authorized-keys\n"
"file (sessions under way keep the keys they started with).  Runs until killed.\n";

struct rx_opts {
	const char *dir;
	uint64_t max_size, min_free;
	unsigned max_clients, timeout;
	struct net_keypair key;
	uint64_t incoming_max_age;
	const char *archive;            /* --archive DB, or NULL */
};

/* The authorized keys: replaced whole on SIGHUP; a session holds a
 * reference to the table it started with. */
struct authtab {
	struct net_pubkey *k;
	size_t n;
	unsigned refs;                  /* sessions, and one while it is current */
};

static struct rx_opts O;
static struct authtab *auth_cur;
static volatile sig_atomic_t got_hup;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned active, session_seq;
static uint8_t active_ids[MAX_ACTIVE_IDS][NET_KEY_BYTES + NET_ID_BYTES];
static bool active_used[MAX_ACTIVE_IDS];

struct session {
	int fd;
	unsigned no;
	char peer[64];
	char tag[NET_LABEL_MAX + 40];   /* "#N label" for the log */
	char stored[NET_LABEL_MAX + 40];        /* the committed directory's name, or "" */
};

static void rlog(const struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rlog(const struct session *s, const char *fmt, ...)
{
	char msg[768], ts[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&lock);
	if (s)
		fprintf(stderr, "%s receive %s (%s): %s\n", ts, s->tag, s->peer, msg);
	else
		fprintf(stderr, "%s receive: %s\n", ts, msg);
	pthread_mutex_unlock(&lock);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mul = 1;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'K': case 'k': mul = 1ULL << 10; end++; break;
	case 'M': case 'm': mul = 1ULL << 20; end++; break;
	case 'G': case 'g': mul = 1ULL << 30; end++; break;
	case 'T': case 't': mul = 1ULL << 40; end++; break;
	default: break;
	}
	if (errno || *end || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* ---- one transfer's files ---------------------------------------------------- */
/* in stream order: the dump, dmesg.txt, meta.json */
static const char *const part_name[NET_FILES] = { "vmcore.part", "dmesg.txt.part", "meta.json.part" };
static const char *const final_name[NET_FILES] = { "vmcore", "dmesg.txt", "meta.json" };
#define F_DUMP 0
#define F_DMESG 1
#define F_META 2

struct xfer {
	char dir[4096];                 /* DIR/.incoming/FP-ID */
	int dfd;                        /* that directory */
	int fd[NET_FILES];
	uint64_t size[NET_FILES], start[NET_FILES + 1];   /* start[NET_FILES] = total */
	uint64_t crash_time, flags, bound;
	bool sizes_known;               /* SIZES came (until then: the dump, up to bound) */
	uint8_t open_msg[NET_OPEN_BYTES];
	int slot;                       /* in active_ids, -1 none */
	crypto_onetimeauth_state mac;   /* of the stream up to the current offset */
	/* the flusher: fdatasyncs the parts in its own thread while the session
	 * goes on receiving; an ACK names what it last made durable */
	pthread_t fl_th;
	pthread_mutex_t fl_m;
	pthread_cond_t fl_cv;
	bool fl_on, fl_stop;
	uint64_t fl_req, fl_taken, fl_done;
	int fl_err;
};

static int xfer_sync(struct xfer *x);

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
static void flusher_start(struct xfer *x, uint64_t durable)
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

static void xfer_close(struct xfer *x)
{
	flusher_stop(x);
	for (int i = 0; i < NET_FILES; i++)
		if (x->fd[i] >= 0)
			close(x->fd[i]);
	if (x->dfd >= 0)
		close(x->dfd);
	x->dfd = -1;
	for (int i = 0; i < NET_FILES; i++)
		x->fd[i] = -1;
	if (x->slot >= 0) {
		pthread_mutex_lock(&lock);
		active_used[x->slot] = false;
		pthread_mutex_unlock(&lock);
		x->slot = -1;
	}
}

/* Remove the transfer's directory: nothing of a refused stream is kept. */
static void xfer_discard(struct xfer *x)
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

static uint64_t free_bytes(const char *dir)
{
	struct statvfs v;

	if (statvfs(dir, &v) < 0)
		return 0;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Claim (agent key, transfer id): one connection per transfer at a time. */
static int claim(const uint8_t *pk, const uint8_t *id)
{
	int free_slot = -1;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < MAX_ACTIVE_IDS; i++) {
		if (!active_used[i]) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!memcmp(active_ids[i], pk, NET_KEY_BYTES) &&
		    !memcmp(active_ids[i] + NET_KEY_BYTES, id, NET_ID_BYTES)) {
			free_slot = -2;
			break;
		}
	}
	if (free_slot >= 0) {
		memcpy(active_ids[free_slot], pk, NET_KEY_BYTES);
		memcpy(active_ids[free_slot] + NET_KEY_BYTES, id, NET_ID_BYTES);
		active_used[free_slot] = true;
	}
	pthread_mutex_unlock(&lock);
	return free_slot;
}

/* The three parts' sizes: before SIZES the dump may fill the whole bound. */
static int set_sizes(struct xfer *x, const uint64_t size[NET_FILES], bool known)
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
static int xfer_open(struct xfer *x, const struct session *s, const uint8_t *peer,
		     uint64_t *resume, char *why, size_t whylen)
{
	char fp[17], idhex[2 * NET_ID_BYTES + 1], path[4200];
	uint8_t old[NET_OPEN_BYTES + NET_SIZES_BYTES];
	bool fresh = false;
	uint64_t have[NET_FILES];
	int sfd;

	net_fingerprint(peer, fp);
	sodium_bin2hex(idhex, sizeof(idhex), x->open_msg, NET_ID_BYTES);
	snprintf(path, sizeof(path), "%s/.incoming", O.dir);
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
			if (set_sizes(x, sz, true) < 0) {
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
static int xfer_sizes(struct xfer *x, const uint8_t *msg, uint64_t off, char *why, size_t whylen)
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
	int rc = set_sizes(x, sz, true);
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
static int xfer_write(struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
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

static int xfer_sync(struct xfer *x)
{
	for (int i = 0; i < NET_FILES; i++)
		if (fdatasync(x->fd[i]) < 0)
			return -errno;
	return 0;
}

/* Start the stream's MAC with the stored prefix [0, upto): read back once,
 * when a transfer resumes; new bytes are hashed as they arrive. */
static int xfer_hash_prefix(struct xfer *x, uint64_t upto, uint8_t *buf, size_t cap)
{
	crypto_onetimeauth_init(&x->mac, x->open_msg + NET_OPEN_BYTES - NET_MAC_KEY_BYTES);
	for (int i = 0; i < NET_FILES && upto > x->start[i]; i++) {
		uint64_t end = upto - x->start[i] < x->size[i] ? upto - x->start[i] : x->size[i];
		for (uint64_t off = 0; off < end;) {
			size_t want = end - off < cap ? (size_t)(end - off) : cap;
			ssize_t r = pread(x->fd[i], buf, want, (off_t)off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			crypto_onetimeauth_update(&x->mac, buf, (size_t)r);
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
static int xfer_finish(struct xfer *x, const char *label, char *name, size_t namelen)
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
		snprintf(dst, sizeof(dst), "%s/%s", O.dir, name);
		if (renameat2(AT_FDCWD, x->dir, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
			return fsync_dir(O.dir);
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* ---- a session --------------------------------------------------------------- */
static void refuse(struct net_conn *c, const struct session *s, const char *why)
{
	rlog(s, "refused: %s", why);
	net_send(c, NET_MSG_REFUSE, why, strlen(why));
}

static void run_session(struct session *s, struct net_conn *c, uint8_t *buf,
			const struct authtab *t)
{
	char err[NET_ERR_MAX], why[512], fp[17];
	struct xfer x = { .dfd = -1, .fd = { -1, -1, -1 }, .slot = -1 };
	size_t who, n;
	uint8_t type, digest[NET_MAC_BYTES], reply[8];
	uint64_t off, acked, limit;
#define total (x.start[NET_FILES])     /* the bound until SIZES came */
	struct timespec t0, t1;
	int rc;

	rc = net_handshake_server(c, s->fd, &O.key, t->k, t->n, &who, err, sizeof(err));
	if (rc < 0) {
		rlog(s, "refused: %s", err);
		return;
	}
	const struct net_pubkey *a = &t->k[who];
	net_fingerprint(a->pk, fp);
	snprintf(s->tag, sizeof(s->tag), "#%u %s", s->no, a->label);
	rc = net_recv(c, &type, buf, NET_REC_MAX, &n, err, sizeof(err));
	if (rc < 0 || type != NET_MSG_OPEN || n != NET_OPEN_BYTES) {
		rlog(s, "refused: %s", rc < 0 ? err : "the first record is not an open message");
		return;
	}
	memcpy(x.open_msg, buf, NET_OPEN_BYTES);
	x.crash_time = net_get64(buf + NET_ID_BYTES);
	x.flags = net_get64(buf + NET_OPEN_FLAGS);
	x.bound = net_get64(buf + NET_OPEN_BOUND);
	if (x.flags & ~(uint64_t)NET_OPEN_FLAT) {
		refuse(c, s, "unknown flags in the open message");
		return;
	}
	limit = a->limit && a->limit < O.max_size ? a->limit : O.max_size;
	if (x.bound > limit) {
		snprintf(why, sizeof(why), "announces %" PRIu64 " bytes, above its limit of %" PRIu64,
			 x.bound, limit);
		refuse(c, s, why);
		return;
	}
	const uint64_t unknown[NET_FILES] = { x.bound, 0, 0 };
	set_sizes(&x, unknown, false);
	if ((x.slot = claim(a->pk, x.open_msg)) < 0) {
		refuse(c, s, x.slot == -2 ? "transfer already in progress on another connection"
					  : "too many transfers");
		x.slot = -1;
		return;
	}
	if (xfer_open(&x, s, a->pk, &off, why, sizeof(why)) < 0) {
		refuse(c, s, why);
		xfer_close(&x);
		return;
	}
	flusher_start(&x, off);
	uint64_t avail = free_bytes(O.dir);
	if (avail < O.min_free || avail - O.min_free < total - off) {
		snprintf(why, sizeof(why), "%" PRIu64 " bytes to store, %" PRIu64
			 " free in %s with a floor of %" PRIu64, total - off, avail, O.dir, O.min_free);
		refuse(c, s, why);
		if (off == 0)
			xfer_discard(&x);
		xfer_close(&x);
		return;
	}
	if ((rc = xfer_hash_prefix(&x, off, buf, NET_REC_MAX)) < 0) {
		snprintf(why, sizeof(why), "reading the stored parts: %s", strerror(-rc));
		refuse(c, s, why);
		xfer_close(&x);
		return;
	}
	if (off)
		rlog(s, "resuming transfer at offset %" PRIu64 " of %s%" PRIu64, off,
		     x.sizes_known ? "" : "at most ", total);
	else
		rlog(s, "new transfer: %s%" PRIu64 " bytes, key %s",
		     (x.flags & NET_OPEN_FLAT) ? "streamed, at most " : "", total, fp);
	net_put64(reply, off);
	if (net_send(c, NET_MSG_ACCEPT, reply, 8) < 0) {
		rlog(s, "connection lost before the transfer started");
		xfer_close(&x);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t first = off;
	acked = off;
	uint64_t requested = off, durable;
	for (;;) {
		/* flushes still running: acknowledge each as it ends, even while
		 * the agent sends nothing (its window may be full) */
		while (acked < requested) {
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };
			int pr = poll(&pf, 1, 20);
			if (flush_request(&x, 0, &durable) < 0)
				break;
			if (durable > acked) {
				acked = durable;
				net_put64(reply, acked);
				net_send(c, NET_MSG_ACK, reply, 8);
			}
			if (pr != 0)
				break;
		}
		rc = net_recv(c, &type, buf, NET_REC_MAX, &n, err, sizeof(err));
		if (rc == NET_E_AUTH) {
			rlog(s, "refused: %s; the transfer is discarded", err);
			xfer_discard(&x);
			return;
		}
		if (rc < 0) {
			xfer_sync(&x);
			rlog(s, "connection lost at offset %" PRIu64 " of %s%" PRIu64
			     " (%s); kept for resuming", off, x.sizes_known ? "" : "at most ", total, err);
			xfer_close(&x);
			return;
		}
		if (type == NET_MSG_DATA) {
			if (n <= 8 || net_get64(buf) != off || n - 8 > total - off) {
				refuse(c, s, "data out of order or beyond the announced size");
				xfer_discard(&x);
				return;
			}
			if ((rc = xfer_write(&x, off, buf + 8, n - 8)) < 0) {
				snprintf(why, sizeof(why), "write: %s", strerror(-rc));
				refuse(c, s, why);
				xfer_close(&x);
				return;
			}
			crypto_onetimeauth_update(&x.mac, buf + 8, n - 8);
			off += n - 8;
			if (off - requested >= ACK_EVERY) {
				/* the flush of the interval before this one has
				 * (almost always) finished meanwhile: ACK it */
				if ((rc = flush_request(&x, off, &durable)) < 0) {
					snprintf(why, sizeof(why), "fsync: %s", strerror(-rc));
					refuse(c, s, why);
					xfer_close(&x);
					return;
				}
				requested = off;
				if (free_bytes(O.dir) < O.min_free) {
					refuse(c, s, "free space fell below the floor");
					xfer_close(&x);
					return;
				}
				if (durable > acked) {
					acked = durable;
					net_put64(reply, acked);
					net_send(c, NET_MSG_ACK, reply, 8);
				}
			}
			continue;
		}
		if (type == NET_MSG_SIZES && n == NET_SIZES_BYTES) {
			if (xfer_sizes(&x, buf, off, why, sizeof(why)) < 0) {
				refuse(c, s, why);
				xfer_discard(&x);
				return;
			}
			continue;
		}
		if (type != NET_MSG_END || n != NET_MAC_BYTES || off != total || !x.sizes_known) {
			refuse(c, s, "unexpected message or early end");
			xfer_discard(&x);
			return;
		}
		memcpy(digest, buf, NET_MAC_BYTES);
		crypto_onetimeauth_final(&x.mac, buf + 32);
		if ((rc = xfer_sync(&x)) < 0) {
			snprintf(why, sizeof(why), "storing: %s", strerror(-rc));
			refuse(c, s, why);
			xfer_close(&x);
			return;
		}
		if (sodium_memcmp(digest, buf + 32, NET_MAC_BYTES)) {
			refuse(c, s, "the stored stream's MAC differs from the agent's; discarded");
			xfer_discard(&x);
			return;
		}
		char name[NET_LABEL_MAX + 40];
		if ((rc = xfer_finish(&x, a->label, name, sizeof(name))) < 0) {
			snprintf(why, sizeof(why), "storing: %s", strerror(-rc));
			refuse(c, s, why);
			xfer_close(&x);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		rlog(s, "stored %s/%s: %" PRIu64 " bytes (%" PRIu64 " in this session, %.2f s, "
		     "%.1f MB/s)", O.dir, name, total, total - first, secs,
		     secs > 0 ? (double)(total - first) / 1e6 / secs : 0.0);
		net_send(c, NET_MSG_DONE, name, strlen(name));
		snprintf(s->stored, sizeof(s->stored), "%s", name);
		xfer_close(&x);
		return;
	}
}
#undef total

/* A connection's buffers live in one allocation of fixed size. */
struct conn_mem {
	struct session s;
	struct net_conn c;
	uint8_t buf[NET_REC_MAX];
};

static struct authtab *auth_get(void)
{
	pthread_mutex_lock(&lock);
	struct authtab *t = auth_cur;
	t->refs++;
	pthread_mutex_unlock(&lock);
	return t;
}

static void auth_put(struct authtab *t)
{
	pthread_mutex_lock(&lock);
	bool last = --t->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last) {
		sodium_memzero(t->k, t->n * sizeof(*t->k));
		free(t->k);
		free(t);
	}
}

/* Read the authorized-keys file into a new current table. */
static int auth_load(const char *path, char *err, size_t errlen)
{
	struct authtab *t = calloc(1, sizeof(*t));

	if (!t)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	int rc = net_authorized_load(path, &t->k, &t->n, err, errlen);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->refs = 1;
	pthread_mutex_lock(&lock);
	struct authtab *old = auth_cur;
	auth_cur = t;
	pthread_mutex_unlock(&lock);
	if (old)
		auth_put(old);
	return 0;
}

/* ---- --archive: index a stored dump ------------------------------------------ */
/* Outside the transfer: the agent has its DONE and the connection is closed
 * before an indexer thread starts.  Indexing reads the whole dump with the
 * analyzer's model (memory and stack far above a session's), and that model
 * is not made for concurrent use, so indexers run one at a time under
 * index_lock, each on its own thread with the default stack and its own db
 * handle, opened and closed per dump: a database that was down or unwritable
 * for one dump is tried afresh for the next, and concurrent writers (other
 * receivers, salvage archive) meet SQLite's WAL and busy timeout or
 * PostgreSQL's own locking.  A dump the index missed (a failure, or the
 * receiver killed while indexing) is still stored: salvage archive watch
 * --once DIR adds it later. */
static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;

struct index_job {
	struct session s;               /* fd unused: for rlog's tag and peer */
};

static void *index_thread(void *arg)
{
	struct index_job *j = arg;
	struct az_archive_add_opts ao = { 0 };
	struct az_archive_added *r = malloc(sizeof(*r));
	struct arc_db *db = NULL;
	char path[4200], err[768];

	snprintf(path, sizeof(path), "%s/%s", O.dir, j->s.stored);
	pthread_mutex_lock(&index_lock);
	if (!r)
		snprintf(err, sizeof(err), "out of memory");
	if (r && arc_db_open(O.archive, &db, err, sizeof(err)) == 0 &&
	    az_archive_add(db, path, &ao, r, err, sizeof(err)) == 0) {
		if (r->outcome == AZ_ARC_ADDED || r->outcome == AZ_ARC_SAME ||
		    r->outcome == AZ_ARC_KNOWN)
			rlog(&j->s, "archived %s: id %" PRId64 "%s%s%s%s%s", j->s.stored, r->id,
			     r->outcome == AZ_ARC_ADDED ? "" : " (already archived)",
			     r->host[0] ? ", host " : "", r->host,
			     r->sig[0] ? ", signature " : "", r->sig);
		else
			rlog(&j->s, "not archived: %s: %s; the dump stays stored", j->s.stored,
			     r->outcome == AZ_ARC_WRITING ? "still being written" : "no dump in it");
	} else {
		rlog(&j->s, "not archived: %s: %s; the dump stays stored", j->s.stored, err);
	}
	if (db)
		arc_db_close(db);
	pthread_mutex_unlock(&index_lock);
	free(r);
	free(j);
	return NULL;
}

static void index_start(const struct session *s)
{
	struct index_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t th;
	int rc = ENOMEM;

	if (j) {
		j->s = *s;
		j->s.fd = -1;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&th, &attr, index_thread, j);
		pthread_attr_destroy(&attr);
	}
	if (rc) {
		free(j);
		rlog(s, "not archived: %s: cannot start the indexer: %s; the dump stays stored",
		     s->stored, strerror(rc));
	}
}

static void *session_thread(void *arg)
{
	struct conn_mem *m = arg;
	struct authtab *t = auth_get();

	m->s.stored[0] = 0;
	run_session(&m->s, &m->c, m->buf, t);
	auth_put(t);
	net_conn_wipe(&m->c);
	close(m->s.fd);
	if (O.archive && m->s.stored[0])
		index_start(&m->s);
	sodium_memzero(m, sizeof(*m));
	free(m);
	pthread_mutex_lock(&lock);
	active--;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int listen_on(const char *spec, const char *port_file)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *ai;
	int fd = -1, one = 1;

	if (net_split_hostport(spec, host, sizeof(host), port, sizeof(port)) < 0) {
		fprintf(stderr, "salvage receive: --listen '%s' is not ADDR:PORT\n", spec);
		return -1;
	}
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		fprintf(stderr, "salvage receive: %s: %s\n", host, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "salvage receive: cannot listen on %s: %s\n", spec, strerror(errno));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[NI_MAXHOST], p[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		rlog(NULL, "listening on %s port %s, storing into %s", h, p, O.dir);
		if (port_file) {
			FILE *f = fopen(port_file, "we");
			if (!f || fprintf(f, "%s\n", p) < 0 || fclose(f) != 0) {
				fprintf(stderr, "salvage receive: %s: cannot write\n", port_file);
				close(fd);
				return -1;
			}
		}
	}
	return fd;
}

static void on_hup(int sig)
{
	got_hup = 1;
}

/* Remove transfers in DIR/.incoming that nothing wrote to for
 * --incoming-max-age seconds and that no connection holds (logged). */
static void prune_incoming(void)
{
	char path[4200], fp[17], idhex[2 * NET_ID_BYTES + 1], name[64];
	DIR *d;
	struct dirent *e;
	time_t now = time(NULL);

	snprintf(path, sizeof(path), "%s/.incoming", O.dir);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int dfd;
		if (e->d_name[0] == '.' || strlen(e->d_name) != 16 + 1 + 2 * NET_ID_BYTES)
			continue;
		if ((dfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				  O_CLOEXEC)) < 0)
			continue;
		time_t newest = fstat(dfd, &st) == 0 ? st.st_mtime : now;
		static const char *const names[] = { "state", "vmcore.part", "dmesg.txt.part",
						     "meta.json.part", "vmcore.tmp" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime > newest)
				newest = st.st_mtime;
		bool held = false;
		pthread_mutex_lock(&lock);
		for (int i = 0; i < MAX_ACTIVE_IDS && !held; i++) {
			if (!active_used[i])
				continue;
			net_fingerprint(active_ids[i], fp);
			sodium_bin2hex(idhex, sizeof(idhex), active_ids[i] + NET_KEY_BYTES, NET_ID_BYTES);
			snprintf(name, sizeof(name), "%s-%s", fp, idhex);
			held = !strcmp(name, e->d_name);
		}
		pthread_mutex_unlock(&lock);
		if (held || now - newest < (time_t)O.incoming_max_age) {
			close(dfd);
			continue;
		}
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			unlinkat(dfd, names[i], 0);
		close(dfd);
		if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0)
			rlog(NULL, "pruned the stale transfer .incoming/%s (nothing written for %.1f h)",
			     e->d_name, (double)(now - newest) / 3600);
		else
			rlog(NULL, "cannot prune .incoming/%s: %s", e->d_name, strerror(errno));
	}
	closedir(d);
}

int az_cmd_receive(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'L' },
		{ "dir", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "authorized-keys", required_argument, NULL, 'a' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "min-free", required_argument, NULL, 'f' },
		{ "max-clients", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "incoming-max-age", required_argument, NULL, 'A' },
		{ "archive", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *keyf = NULL, *authf = NULL, *port_file = NULL;
	char err[NET_ERR_MAX];
	uint64_t v;
	int opt, lfd;

	O.max_size = 1ULL << 40;
	O.min_free = 1ULL << 30;
	O.max_clients = 32;
	O.timeout = 60;
	O.incoming_max_age = 7 * 86400;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'L': listen_spec = optarg; break;
		case 'd': O.dir = optarg; break;
		case 'k': keyf = optarg; break;
		case 'a': authf = optarg; break;
		case 'p': port_file = optarg; break;
		case 'D': O.archive = optarg; break;
		case 'm': case 'f':
			if (parse_size(optarg, &v) < 0 || (opt == 'm' && !v)) {
				fprintf(stderr, "salvage receive: bad size '%s'\n", optarg);
				return AZ_EXIT_USAGE;
			}
			*(opt == 'm' ? &O.max_size : &O.min_free) = v;
			break;
		case 'c': case 't':
			if (parse_size(optarg, &v) < 0 || !v || v > 100000) {
				fprintf(stderr, "salvage receive: bad number '%s'\n", optarg);
				return AZ_EXIT_USAGE;
			}
			*(opt == 'c' ? &O.max_clients : &O.timeout) = (unsigned)v;
			break;
		case 'A':
			if (parse_size(optarg, &v) < 0 || v < 3600 || v > (1ULL << 40)) {
				fprintf(stderr, "salvage receive: bad age '%s' (seconds, at least 3600)\n",
					optarg);
				return AZ_EXIT_USAGE;
			}
			O.incoming_max_age = v;
			break;
		case 'h': fputs(usage_text, stdout); return AZ_EXIT_OK;
		default: fputs(usage_text, stderr); return AZ_EXIT_USAGE;
		}
	}
	if (!listen_spec || !O.dir || !keyf || !authf || optind != argc) {
		fputs(usage_text, stderr);
		return AZ_EXIT_USAGE;
	}
	if (net_init() < 0) {
		fprintf(stderr, "salvage receive: cannot initialise libsodium\n");
		return AZ_EXIT_FAIL;
	}
	if (net_key_load(keyf, &O.key, err, sizeof(err)) < 0 ||
	    auth_load(authf, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage receive: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	struct stat st;
	if (stat(O.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "salvage receive: %s: not a directory\n", O.dir);
		return AZ_EXIT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = listen_on(listen_spec, port_file)) < 0)
		return AZ_EXIT_FAIL;
	rlog(NULL, "%zu authorized agent key(s), at most %u connections", auth_cur->n, O.max_clients);
	struct sigaction sa = { .sa_handler = on_hup };     /* no SA_RESTART: poll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	prune_incoming();
	time_t pruned = time(NULL);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_BYTES);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pollfd pf = { .fd = lfd, .events = POLLIN };
		int pr = poll(&pf, 1, 60 * 1000);
		if (got_hup) {
			got_hup = 0;
			if (auth_load(authf, err, sizeof(err)) < 0)
				rlog(NULL, "SIGHUP: %s; the keys loaded before stay", err);
			else
				rlog(NULL, "SIGHUP: %zu authorized agent key(s) reloaded", auth_cur->n);
		}
		if (time(NULL) - pruned >= 3600) {
			prune_incoming();
			pruned = time(NULL);
		}
		if (pr <= 0)
			continue;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					sleep(1);
				continue;
			}
			fprintf(stderr, "salvage receive: accept: %s\n", strerror(errno));
			return AZ_EXIT_FAIL;
		}
		struct session tmp = { .fd = fd };
		char h[NI_MAXHOST] = "?", p[NI_MAXSERV] = "?";
		getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(tmp.peer, sizeof(tmp.peer), "%s:%s", h, p);
		pthread_mutex_lock(&lock);
		tmp.no = ++session_seq;
		bool full = active >= O.max_clients;
		if (!full)
			active++;
		pthread_mutex_unlock(&lock);
		snprintf(tmp.tag, sizeof(tmp.tag), "#%u", tmp.no);
		if (full) {
			rlog(&tmp, "refused: %u connections already", O.max_clients);
			close(fd);
			continue;
		}
		struct timeval tv = { .tv_sec = O.timeout };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		struct conn_mem *m = malloc(sizeof(*m));
		pthread_t th;
		if (!m || (m->s = tmp, pthread_create(&th, &attr, session_thread, m) != 0)) {
			rlog(&tmp, "refused: out of memory or threads");
			free(m);
			close(fd);
			pthread_mutex_lock(&lock);
			active--;
			pthread_mutex_unlock(&lock);
		}
	}
}
