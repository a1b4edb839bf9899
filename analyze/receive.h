/* receive.h - what the parts of `salvage receive` share (DESIGN.md "Dumps
 * over the network"): receive.c (options, listener, authorized keys,
 * pruning), receive-session.c (one connection's protocol, --archive
 * indexing) and receive-store.c (one transfer's files: resume, flushes,
 * reassembly, the final rename). */
#ifndef SALVAGE_RECEIVE_H
#define SALVAGE_RECEIVE_H

#include "../net/net.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACK_EVERY (4u << 20)            /* bytes between flushes; an ACK lags one
					 * flush: under half the agent's smallest window */
#define META_MAX (1u << 20)             /* meta.json */
#define DMESG_MAX (256u << 20)          /* dmesg.txt */
#define MAX_ACTIVE_IDS 1024
#define XFER_SLOTS 4                    /* records between the session and its writer */

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

struct session {
	int fd;
	unsigned no;
	char peer[64];
	char tag[NET_LABEL_MAX + 40];   /* "#N label" for the log */
	char stored[NET_LABEL_MAX + 40];        /* the committed directory's name, or "" */
};

/* A connection's buffers live in one allocation of fixed size. */
struct conn_mem {
	struct session s;
	struct net_conn c;
	uint8_t buf[NET_REC_MAX];
};

/* receive.c: the options, the one lock (the log, the tables below, the
 * connection count) and the transfers in progress (agent key, id). */
extern struct rx_opts rx_opt;
extern pthread_mutex_t rx_lock;
extern unsigned rx_active;
extern uint8_t rx_active_ids[MAX_ACTIVE_IDS][NET_KEY_BYTES + NET_ID_BYTES];
extern bool rx_active_used[MAX_ACTIVE_IDS];
void rlog(const struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct authtab *rx_auth_get(void);
void rx_auth_put(struct authtab *t);

/* receive-session.c: a connection's thread (arg: a malloc'd struct conn_mem). */
void *rx_session_thread(void *arg);

/* ---- receive-store.c: one transfer's files ---- */
#define F_DUMP 0                        /* in stream order */
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
	int slot;                       /* in rx_active_ids, -1 none */
	struct net_mac mac;             /* of the stream up to the current offset */
	/* the flusher: fdatasyncs the parts in its own thread while the session
	 * goes on receiving; an ACK names what it last made durable */
	pthread_t fl_th;
	pthread_mutex_t fl_m;
	pthread_cond_t fl_cv;
	bool fl_on, fl_stop;
	uint64_t fl_req, fl_taken, fl_done;
	int fl_err;
	/* the writer: pwrites and MACs the DATA records in order in its own
	 * thread while the session receives and decrypts the next ones; the
	 * records wait in XFER_SLOTS buffers of NET_REC_MAX (the session
	 * decrypts into the slot xfer_slot gives, xfer_put hands it over) */
	pthread_t wr_th;
	pthread_mutex_t wr_m;
	pthread_cond_t wr_cv;
	bool wr_on, wr_stop;
	uint8_t *wr_mem;                /* XFER_SLOTS * NET_REC_MAX */
	const uint8_t *wr_p[XFER_SLOTS];
	size_t wr_n[XFER_SLOTS];
	uint64_t wr_off[XFER_SLOTS];
	unsigned wr_head, wr_tail;      /* slots handed over, slots written */
	uint64_t wr_done, wr_asked;     /* stream bytes written; flush asked up to */
	int wr_err;
};

uint64_t rx_free_bytes(const char *dir);
/* Claim (agent key, transfer id): a slot, -2 held by another connection,
 * -1 no slot free. */
int rx_claim(const uint8_t *pk, const uint8_t *id);
int xfer_set_sizes(struct xfer *x, const uint64_t size[NET_FILES], bool known);
int xfer_open(struct xfer *x, const struct session *s, const uint8_t *peer, uint64_t *resume,
	      char *why, size_t whylen);
int xfer_sizes(struct xfer *x, const uint8_t *msg, uint64_t off, char *why, size_t whylen);
int xfer_write(struct xfer *x, uint64_t off, const uint8_t *p, size_t n);
int xfer_sync(struct xfer *x);
int xfer_hash_prefix(struct xfer *x, uint64_t upto, uint8_t *buf, size_t cap);
int xfer_finish(struct xfer *x, const char *label, char *name, size_t namelen);
void xfer_flusher_start(struct xfer *x, uint64_t durable);
/* What the flushes so far made durable (*durable) and what was asked of
 * them (*asked); a flush's error, or 0. */
int xfer_flush_state(struct xfer *x, uint64_t *durable, uint64_t *asked);
/* The writer (after xfer_flusher_start; off: the stream offset it starts
 * at).  Without a thread (none could be started) xfer_put writes in the
 * caller.  -ENOMEM: no memory for its slots. */
int xfer_writer_start(struct xfer *x, uint64_t off);
/* A free slot (NET_REC_MAX bytes) to receive the next record into: waits
 * while the writer holds them all. */
uint8_t *xfer_slot(struct xfer *x);
/* Hand n bytes at p (inside the slot xfer_slot gave) over for stream offset
 * off; the writer asks for a flush every ACK_EVERY bytes.  The first error
 * of a write or a flush, or 0. */
int xfer_put(struct xfer *x, uint64_t off, const uint8_t *p, size_t n);
/* Wait until everything handed over is written; its first error, or 0. */
int xfer_drain(struct xfer *x);
void xfer_close(struct xfer *x);
void xfer_discard(struct xfer *x);

#endif
