/* receive-session.c - one connection of `salvage receive` (DESIGN.md "Dumps
 * over the network"; the transport is net/): the handshake against the
 * authorized keys, the open message (limit, free-space floor, one connection
 * per transfer), the records of the stream into the transfer's files
 * (receive-store.c), ACKs as flushes end, the MAC compared at the end; and,
 * with --archive, the stored dump indexed after the agent has its answer. */
#include "salvage.h"
#include "receive.h"
#include "../archive/archive.h"
#include "archive-add.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void refuse(struct net_conn *c, const struct session *s, const char *why)
{
	rlog(s, "refused: %s", why);
	net_send(c, NET_MSG_REFUSE, why, strlen(why));
}

/* Whether need more bytes leave --min-free free in DIR; *avail: what is free. */
static bool room_for(uint64_t need, uint64_t *avail)
{
	*avail = rx_free_bytes(rx_opt.dir);
	return *avail >= rx_opt.min_free && *avail - rx_opt.min_free >= need;
}

static void run_session(struct session *s, struct net_conn *c, uint8_t *buf,
			const struct authtab *t)
{
	char err[NET_ERR_MAX], why[512], fp[17];
	struct xfer x = { .dfd = -1, .fd = { -1, -1, -1 }, .slot = -1 };
	size_t who, n;
	uint8_t type, digest[NET_MAC_BYTES], mine[NET_MAC_BYTES], reply[8];
	const uint8_t *pl;
	uint64_t off, acked, limit;
#define total (x.start[NET_FILES])     /* the bound until SIZES came */
	struct timespec t0, t1;
	int rc;

	rc = net_handshake_server(c, s->fd, &rx_opt.key, t->k, t->n, &who, err, sizeof(err));
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
	if (x.flags & ~(uint64_t)(NET_OPEN_FLAT | NET_OPEN_STREAMED)) {
		refuse(c, s, "unknown flags in the open message");
		return;
	}
	limit = a->limit && a->limit < rx_opt.max_size ? a->limit : rx_opt.max_size;
	if (x.bound > limit) {
		snprintf(why, sizeof(why), "announces %" PRIu64 " bytes, above its limit of %" PRIu64,
			 x.bound, limit);
		refuse(c, s, why);
		return;
	}
	const uint64_t unknown[NET_FILES] = { x.bound, 0, 0 };
	xfer_set_sizes(&x, unknown, false);
	if ((x.slot = rx_claim(a->pk, x.open_msg)) < 0) {
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
	xfer_flusher_start(&x, off);
	if (xfer_writer_start(&x, off) < 0) {
		refuse(c, s, "out of memory");
		xfer_close(&x);
		return;
	}
	/* What is left to receive counts when its size is known: a finished
	 * file's bound is its size.  A streamed dump announces only a bound (the
	 * whole vmcore and then some: DESIGN.md "Limits"), far above what a
	 * filtered dump takes; its floor is checked as it arrives (every ACK)
	 * and before it is reassembled. */
	bool exact = x.sizes_known || !(x.flags & (NET_OPEN_FLAT | NET_OPEN_STREAMED));
	uint64_t avail, need = exact ? total - off : 0;
	if (!room_for(need, &avail)) {
		if (exact)
			snprintf(why, sizeof(why), "%" PRIu64 " bytes to store, %" PRIu64
				 " free in %s with a floor of %" PRIu64, need, avail, rx_opt.dir,
				 rx_opt.min_free);
		else
			snprintf(why, sizeof(why), "%" PRIu64 " bytes free in %s, below the floor of %"
				 PRIu64, avail, rx_opt.dir, rx_opt.min_free);
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
		rlog(s, "new transfer: %s%" PRIu64 " bytes, key %s, records %s",
		     (x.flags & NET_OPEN_FLAT) ? "streamed, at most " : "", total, fp,
		     c->cipher == NET_CIPHER_AESGCM ? "AES-256-GCM" : "XChaCha20-Poly1305");
	net_put64(reply, off);
	if (net_send(c, NET_MSG_ACCEPT, reply, 8) < 0) {
		rlog(s, "connection lost before the transfer started");
		xfer_close(&x);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t first = off, checked = off, durable, asked;
	acked = off;
	for (;;) {
		/* acknowledge what the flushes made durable; while one still
		 * runs and the agent sends nothing (its window may be full),
		 * look again every 20 ms */
		for (;;) {
			if ((rc = xfer_flush_state(&x, &durable, &asked)) < 0)
				break;
			if (durable > acked) {
				acked = durable;
				net_put64(reply, acked);
				net_send(c, NET_MSG_ACK, reply, 8);
			}
			struct pollfd pf = { .fd = c->fd, .events = POLLIN };
			if (acked >= asked || poll(&pf, 1, 20) != 0)
				break;
		}
		rc = net_recv_at(c, &type, xfer_slot(&x), NET_REC_MAX, &pl, &n, err, sizeof(err));
		if (rc == NET_E_AUTH) {
			rlog(s, "refused: %s; the transfer is discarded", err);
			xfer_discard(&x);
			return;
		}
		if (rc < 0) {
			xfer_drain(&x);
			xfer_sync(&x);
			rlog(s, "connection lost at offset %" PRIu64 " of %s%" PRIu64
			     " (%s); kept for resuming", off, x.sizes_known ? "" : "at most ", total, err);
			xfer_close(&x);
			return;
		}
		if (type == NET_MSG_DATA) {
			if (n <= 8 || net_get64(pl) != off || n - 8 > total - off) {
				refuse(c, s, "data out of order or beyond the announced size");
				xfer_discard(&x);
				return;
			}
			if ((rc = xfer_put(&x, off, pl + 8, n - 8)) < 0) {
				snprintf(why, sizeof(why), "storing: %s", strerror(-rc));
				refuse(c, s, why);
				xfer_close(&x);
				return;
			}
			off += n - 8;
			if (off - checked >= ACK_EVERY) {
				checked = off;
				if (!room_for(0, &avail)) {
					refuse(c, s, "free space fell below the floor");
					xfer_close(&x);
					return;
				}
			}
			continue;
		}
		/* the control messages: after everything before them is written */
		if ((rc = xfer_drain(&x)) < 0) {
			snprintf(why, sizeof(why), "storing: %s", strerror(-rc));
			refuse(c, s, why);
			xfer_close(&x);
			return;
		}
		if (type == NET_MSG_SIZES && n == NET_SIZES_BYTES) {
			if (xfer_sizes(&x, pl, off, why, sizeof(why)) < 0) {
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
		memcpy(digest, pl, NET_MAC_BYTES);
		if ((rc = net_mac_peek(&x.mac, mine)) < 0 || (rc = xfer_sync(&x)) < 0) {
			snprintf(why, sizeof(why), "storing: %s", strerror(-rc));
			refuse(c, s, why);
			xfer_close(&x);
			return;
		}
		if (sodium_memcmp(digest, mine, NET_MAC_BYTES)) {
			refuse(c, s, "the stored stream's MAC differs from the agent's; discarded");
			xfer_discard(&x);
			return;
		}
		/* a streamed dump is written a second time, reassembled, while
		 * its part is still there: that copy must fit above the floor */
		if (x.flags & NET_OPEN_FLAT) {
			if (!room_for(x.size[F_DUMP], &avail)) {
				snprintf(why, sizeof(why), "reassembling the streamed dump takes %" PRIu64
					 " bytes, %" PRIu64 " free in %s with a floor of %" PRIu64
					 "; kept for resuming", x.size[F_DUMP], avail, rx_opt.dir,
					 rx_opt.min_free);
				refuse(c, s, why);
				xfer_close(&x);
				return;
			}
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
		     "%.1f MB/s)", rx_opt.dir, name, total, total - first, secs,
		     secs > 0 ? (double)(total - first) / 1e6 / secs : 0.0);
		net_send(c, NET_MSG_DONE, name, strlen(name));
		snprintf(s->stored, sizeof(s->stored), "%s", name);
		xfer_close(&x);
		return;
	}
}
#undef total


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

	snprintf(path, sizeof(path), "%s/%s", rx_opt.dir, j->s.stored);
	pthread_mutex_lock(&index_lock);
	if (!r)
		snprintf(err, sizeof(err), "out of memory");
	if (r && arc_db_open(rx_opt.archive, &db, err, sizeof(err)) == 0 &&
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

void *rx_session_thread(void *arg)
{
	struct conn_mem *m = arg;
	struct authtab *t = rx_auth_get();

	m->s.stored[0] = 0;
	run_session(&m->s, &m->c, m->buf, t);
	rx_auth_put(t);
	net_conn_wipe(&m->c);
	close(m->s.fd);
	if (rx_opt.archive && m->s.stored[0])
		index_start(&m->s);
	sodium_memzero(m, sizeof(*m));
	free(m);
	pthread_mutex_lock(&rx_lock);
	rx_active--;
	pthread_mutex_unlock(&rx_lock);
	return NULL;
}