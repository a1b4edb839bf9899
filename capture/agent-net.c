/* agent-net.c - sending a dump to `salvage receive` (the net: target).
 *
 * The stream (protocol 2, DESIGN.md "Dumps over the network") is the dump,
 * then dmesg.txt, then meta.json.  The receiver answers the open message
 * with the offset it holds durably and the agent sends from there.  A cut
 * connection is retried with back-off, bounded in attempts and time, and
 * resumes at the receiver's offset: nothing is sent twice into the stored
 * files.  A Poly1305 MAC of the whole stream (under a key made for this
 * transfer, sent in the open message) closes the transfer; the receiver
 * compares it with what it stored before it keeps anything.
 *
 * The dump is either a finished file (salvage-capture --send: resuming is a
 * seek) or, from the agent, the flattened stream read from a FIFO while the
 * capture writes it.  Then the bytes not yet acknowledged stay in a ring of
 * a fixed size (the window): the sender reads more only while the window has
 * room, and otherwise waits for the receiver's next acknowledgement.  The
 * receiver acknowledges every few MiB, so a resumption always starts inside
 * the window.  Memory is the window and the connection's fixed buffers,
 * whatever the dump's size.
 */
#include "internal.h"
#include "agent.h"
#include "../net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_SECS 5
#define IO_SECS 30
#define CHUNK (NET_REC_MAX - 1 - 8)
#define W_DUMP 0                /* stream order: the dump, dmesg.txt, meta.json */
#define W_DMESG 1
#define W_META 2

struct sender {
	struct cap_net_send *o;
	struct net_keypair me;
	struct net_pubkey rx;
	int fd[NET_FILES];              /* in stream order; the FIFO for a streamed dump */
	const char *mem[NET_FILES];
	uint64_t size[NET_FILES], start[NET_FILES], total;
	bool sizes_known;               /* the dump has ended (always, for a file) */
	bool streamed, eof, tail_done;
	uint8_t *ring;                  /* streamed: stream bytes [base, produced) */
	size_t cap;
	uint64_t base, produced, peak;
	uint8_t id[NET_ID_BYTES];
	uint8_t mac_key[NET_MAC_KEY_BYTES];   /* the transfer's Poly1305 key */
	struct net_mac hash;
	uint64_t hashed;                /* stream bytes in hash (each once, in order) */
	struct net_conn c;
	uint8_t buf[NET_REC_MAX];
	char err[NET_ERR_MAX];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stream bytes [off, off+n) of dmesg.txt or meta.json, or of a dump file. */
static int file_read(struct sender *s, uint64_t off, uint8_t *p, size_t n, size_t *got)
{
	int i = NET_FILES - 1;

	while (i > 0 && off < s->start[i])
		i--;
	while (i < NET_FILES - 1 && off >= s->start[i] + s->size[i])
		i++;
	uint64_t in = off - s->start[i], left = s->size[i] - in;
	if (n > left)
		n = (size_t)left;
	if (!n)
		return -EIO;
	if (s->mem[i]) {
		memcpy(p, s->mem[i] + in, n);
		*got = n;
		return 0;
	}
	for (;;) {
		ssize_t r = pread(s->fd[i], p, n, (off_t)in);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;   /* the file shrank */
		*got = (size_t)r;
		return 0;
	}
}

/* Streamed dump bytes from off (at most n): from the ring, or read from the
 * FIFO into it while the window has room.  *got 0: the window is full (wait
 * for an acknowledgement) or the dump has ended (s->eof). */
static int ring_read(struct sender *s, uint64_t off, uint8_t *p, size_t n, size_t *got)
{
	*got = 0;
	if (off < s->base || off > s->produced)
		return -ESPIPE;         /* outside the window: cannot resend */
	if (off == s->produced) {
		if (s->eof || s->produced - s->base >= s->cap)
			return 0;
		size_t at = (size_t)(s->produced % s->cap);
		size_t room = s->cap - (size_t)(s->produced - s->base);
		if (room > s->cap - at)
			room = s->cap - at;
		if (room > n)
			room = n;
		ssize_t r;
		do
			r = read(s->fd[W_DUMP], s->ring + at, room);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (r == 0) {
			s->eof = true;
			return 0;
		}
		s->produced += (uint64_t)r;
		if (s->produced - s->base > s->peak)
			s->peak = s->produced - s->base;
	}
	size_t at = (size_t)(off % s->cap);
	uint64_t have = s->produced - off;
	if (n > have)
		n = (size_t)have;
	if (n > s->cap - at)
		n = s->cap - at;
	memcpy(p, s->ring + at, n);
	*got = n;
	return 0;
}

/* Fold the bytes [off, off+n) at p into the stream's MAC where they are new. */
static void hash_new(struct sender *s, uint64_t off, const uint8_t *p, size_t n)
{
	if (off <= s->hashed && off + n > s->hashed) {
		size_t skip = (size_t)(s->hashed - off);
		net_mac_update(&s->hash, p + skip, n - skip);
		s->hashed = off + n;
	}
}

/* The dump has ended: its size, and the other two files after it. */
static int dump_ended(struct sender *s)
{
	if (s->streamed) {
		s->size[W_DUMP] = s->produced;
		s->sizes_known = true;
	}
	if (!s->tail_done && s->o->tail) {
		int rc = s->o->tail(s->o->tail_arg, s->o);
		s->tail_done = true;
		if (rc < 0)
			return snprintf(s->err, sizeof(s->err), "the capture failed: nothing to finish"),
			       rc;
		static const int map[2] = { W_META, W_DMESG };
		for (int k = 0; k < 2; k++) {
			int i = map[k];
			struct stat st;
			s->mem[i] = s->o->src[k].mem;
			s->size[i] = s->o->src[k].len;
			if (!s->mem[i] && s->o->src[k].path) {
				s->fd[i] = open(s->o->src[k].path, O_RDONLY | O_CLOEXEC);
				if (s->fd[i] < 0 || fstat(s->fd[i], &st) < 0)
					return snprintf(s->err, sizeof(s->err), "%s: %s",
							s->o->src[k].path, strerror(errno)), -errno;
				s->size[i] = (uint64_t)st.st_size;
			} else if (!s->mem[i]) {
				s->size[i] = 0;
			}
		}
	}
	s->tail_done = true;
	s->total = 0;
	for (int i = 0; i < NET_FILES; i++) {
		s->start[i] = s->total;
		s->total += s->size[i];
	}
	if (s->o->bound && s->total > s->o->bound)
		return snprintf(s->err, sizeof(s->err), "%llu bytes, above the announced %llu",
				(unsigned long long)s->total, (unsigned long long)s->o->bound),
		       -EFBIG;
	return 0;
}

/* Connect to HOST:PORT, HOST an IPv4 or IPv6 address: the crash kernel has
 * no resolver, and a static program cannot use glibc's. */
static int dial(const char *target, char *err, size_t errlen)
{
	char host[256], port[16];
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, e = 0;

	memset(&ss, 0, sizeof(ss));
	if (net_split_hostport(target, host, sizeof(host), port, sizeof(port)) < 0)
		return snprintf(err, errlen, "'%s' is not ADDRESS:PORT", target), -EINVAL;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)atoi(port));
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)atoi(port));
		sl = sizeof(*v6);
	} else
		return snprintf(err, errlen, "'%.200s' is not an IP address", host), -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return snprintf(err, errlen, "socket: %s", strerror(errno)), -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		e = errno;
		if (e == EINPROGRESS) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			socklen_t el = sizeof(e);
			e = ETIMEDOUT;
			if (poll(&pf, 1, CONNECT_SECS * 1000) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
		}
		if (e) {
			close(fd);
			return snprintf(err, errlen, "connect to %s: %s", target, strerror(e)), -e;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = IO_SECS };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A message from the receiver during the transfer: ACK (kept) or REFUSE. */
static int take_reply(struct sender *s, uint8_t *type, uint64_t *val, bool *fatal)
{
	size_t n;
	int rc = net_recv(&s->c, type, s->buf, sizeof(s->buf), &n, s->err, sizeof(s->err));

	if (rc < 0)
		return rc;
	if (*type == NET_MSG_REFUSE || *type == NET_MSG_DONE) {
		if (n > 200)
			n = 200;
		for (size_t i = 0; i < n; i++)
			if (s->buf[i] < 0x20 || s->buf[i] > 0x7e)
				s->buf[i] = '?';
		s->buf[n] = 0;
		if (*type == NET_MSG_REFUSE) {
			snprintf(s->err, sizeof(s->err), "the receiver refused: %.200s", (char *)s->buf);
			*fatal = !strstr((char *)s->buf, "in progress");
			return -EPERM;
		}
		return 0;
	}
	if ((*type == NET_MSG_ACK || *type == NET_MSG_ACCEPT) && n == 8) {
		*val = net_get64(s->buf);
		return 0;
	}
	snprintf(s->err, sizeof(s->err), "unexpected message %u from the receiver", *type);
	*fatal = true;
	return -EPROTO;
}

/* An acknowledgement frees the window up to its offset. */
static int ack(struct sender *s, uint64_t v, uint64_t sent, bool *fatal)
{
	if (v > sent) {
		*fatal = true;
		return snprintf(s->err, sizeof(s->err), "the receiver acknowledged unsent bytes"),
		       -EPROTO;
	}
	if (v > s->base)
		s->base = v;
	return 0;
}

/* Whatever the receiver has said meanwhile (wait: block for one message). */
static int replies(struct sender *s, int fd, uint64_t sent, bool wait, bool *fatal)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	uint8_t type;
	uint64_t v;
	int rc;

	while (wait || poll(&pf, 1, 0) == 1) {
		wait = false;
		pf.revents = 0;
		if ((rc = take_reply(s, &type, &v, fatal)) < 0)
			return rc;
		if (type != NET_MSG_ACK) {
			*fatal = true;
			return snprintf(s->err, sizeof(s->err), "unexpected message %u", type), -EPROTO;
		}
		if ((rc = ack(s, v, sent, fatal)) < 0)
			return rc;
	}
	return 0;
}

/* One connection: handshake, open, data from the receiver's offset, end. */
static int session(struct sender *s, int fd, bool *fatal, uint64_t *reached)
{
	uint8_t open_msg[NET_OPEN_BYTES], type, sizes[NET_SIZES_BYTES];
	uint64_t off, v, first;
	bool sizes_sent = false;
	int rc;

	rc = net_handshake_client(&s->c, fd, &s->me, s->rx.pk, s->err, sizeof(s->err));
	if (rc < 0) {
		*fatal = rc == NET_E_REFUSED || rc == NET_E_AUTH || rc == NET_E_VERSION ||
			 rc == NET_E_PROTO;
		return rc;
	}
	memcpy(open_msg, s->id, NET_ID_BYTES);
	net_put64(open_msg + NET_ID_BYTES, s->o->crash_time);
	net_put64(open_msg + NET_OPEN_FLAGS, (s->streamed && !s->o->sealed ? NET_OPEN_FLAT : 0) |
						     (s->streamed ? NET_OPEN_STREAMED : 0));
	net_put64(open_msg + NET_OPEN_BOUND, s->streamed ? s->o->bound : s->total);
	memcpy(open_msg + NET_OPEN_BYTES - NET_MAC_KEY_BYTES, s->mac_key, NET_MAC_KEY_BYTES);
	if ((rc = net_send(&s->c, NET_MSG_OPEN, open_msg, sizeof(open_msg))) < 0)
		return snprintf(s->err, sizeof(s->err), "send: %s", strerror(-rc)), rc;
	if ((rc = take_reply(s, &type, &off, fatal)) < 0)
		return rc;
	if (type != NET_MSG_ACCEPT || off > s->hashed || off < s->base ||
	    (s->sizes_known && off > s->total)) {
		*fatal = true;
		return snprintf(s->err, sizeof(s->err), "the receiver resumes at %llu, outside "
				"[%llu, %llu] that this agent can send", (unsigned long long)off,
				(unsigned long long)s->base, (unsigned long long)s->hashed), -EPROTO;
	}
	if (off)
		cap_log("net: %s holds %llu bytes: resuming there", s->o->target,
			(unsigned long long)off);
	first = off;
	s->base = off;
	for (;;) {
		uint8_t *p = s->buf + 8;
		size_t got = 0;
		bool wait = false;
		if (!s->sizes_known || off < s->size[W_DUMP]) {
			/* the dump */
			if (s->streamed) {
				rc = ring_read(s, off, p, CHUNK, &got);
				wait = rc == 0 && !got && !s->eof;
			} else {
				uint64_t want = s->size[W_DUMP] - off < CHUNK ? s->size[W_DUMP] - off : CHUNK;
				rc = file_read(s, off, p, (size_t)want, &got);
			}
			if (rc < 0) {
				*fatal = true;
				return snprintf(s->err, sizeof(s->err), "reading the dump: %s",
						strerror(-rc)), rc;
			}
			if (!got && !wait && (rc = dump_ended(s)) < 0) {
				*fatal = true;
				return rc;
			}
		} else if (!sizes_sent && first <= s->size[W_DUMP]) {
			/* the receiver may not know the sizes yet: (again) */
			for (int i = 0; i < NET_FILES; i++)
				net_put64(sizes + 8 * i, s->size[i]);
			if ((rc = net_send(&s->c, NET_MSG_SIZES, sizes, sizeof(sizes))) < 0)
				return snprintf(s->err, sizeof(s->err), "connection lost at the dump's end: %s",
						strerror(-rc)), rc;
			sizes_sent = true;
			continue;
		} else if (off < s->total) {
			uint64_t want = s->total - off < CHUNK ? s->total - off : CHUNK;
			if ((rc = file_read(s, off, p, (size_t)want, &got)) < 0) {
				*fatal = true;
				return snprintf(s->err, sizeof(s->err), "reading the log or meta.json: %s",
						strerror(-rc)), rc;
			}
		} else {
			break;
		}
		if (got) {
			hash_new(s, off, p, got);
			net_put64(s->buf, off);
			if ((rc = net_send(&s->c, NET_MSG_DATA, s->buf, 8 + got)) < 0)
				return snprintf(s->err, sizeof(s->err), "connection lost at offset %llu: %s",
						(unsigned long long)off, strerror(-rc)), rc;
			off += got;
			*reached = off;
		}
		if ((rc = replies(s, fd, off, wait, fatal)) < 0)
			return rc;
	}
	uint8_t digest[NET_MAC_BYTES];
	if ((rc = net_mac_peek(&s->hash, digest)) < 0) {
		*fatal = true;
		return snprintf(s->err, sizeof(s->err), "the stream's MAC: libcrypto failed"), rc;
	}
	if ((rc = net_send(&s->c, NET_MSG_END, digest, sizeof(digest))) < 0)
		return snprintf(s->err, sizeof(s->err), "connection lost at the end: %s",
				strerror(-rc)), rc;
	for (;;) {
		if ((rc = take_reply(s, &type, &v, fatal)) < 0)
			return rc;
		if (type == NET_MSG_DONE)
			return 0;
		if (type == NET_MSG_ACK && (rc = ack(s, v, off, fatal)) < 0)
			return rc;
	}
}

/* A streamed dump the sender gave up on: read the FIFO to its end, so
 * that the capture writing it finishes (and the next target can run). */
static void drain(struct sender *s)
{
	if (!s->streamed || s->eof)
		return;
	if (s->fd[W_DUMP] < 0)
		s->fd[W_DUMP] = open(s->o->dump_fifo, O_RDONLY | O_CLOEXEC);
	while (s->fd[W_DUMP] >= 0) {
		ssize_t r = read(s->fd[W_DUMP], s->buf, sizeof(s->buf));
		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	if (!s->tail_done && s->o->tail)
		s->o->tail(s->o->tail_arg, s->o);
}

int cap_net_send(struct cap_net_send *o, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof(*s));
	double t0 = now();
	int rc = -EINVAL;

	if (!s)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	s->o = o;
	for (int i = 0; i < NET_FILES; i++)
		s->fd[i] = -1;
	s->streamed = o->dump_fifo != NULL;
	if (net_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		goto out;
	}
	if ((rc = net_key_load(o->key, &s->me, err, errlen)) < 0 ||
	    (rc = net_pubkey_load(o->receiver_key, &s->rx, err, errlen)) < 0)
		goto out;
	if (s->streamed) {
		s->cap = o->window >= CAP_NET_WINDOW_MIN ? o->window : CAP_NET_WINDOW_MIN;
		s->ring = malloc(s->cap);
		if (!s->ring) {
			rc = -ENOMEM;
			snprintf(err, errlen, "no memory for a window of %zu MiB", s->cap >> 20);
			goto out;
		}
		/* until the capture opens it for writing */
		s->fd[W_DUMP] = open(o->dump_fifo, O_RDONLY | O_CLOEXEC);
		if (s->fd[W_DUMP] < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", o->dump_fifo, strerror(errno));
			goto out;
		}
	} else {
		static const int map[NET_FILES] = { W_META, W_DMESG, W_DUMP };
		for (int k = 0; k < NET_FILES; k++) {
			int i = map[k];
			struct stat st;
			if (o->src[k].mem) {
				s->mem[i] = o->src[k].mem;
				s->size[i] = o->src[k].len;
			} else if (o->src[k].path) {
				s->fd[i] = open(o->src[k].path, O_RDONLY | O_CLOEXEC);
				if (s->fd[i] < 0 || fstat(s->fd[i], &st) < 0) {
					rc = -errno;
					snprintf(err, errlen, "%s: %s", o->src[k].path, strerror(errno));
					goto out;
				}
				s->size[i] = (uint64_t)st.st_size;
			}
		}
		s->tail_done = true;
		s->sizes_known = true;
		if ((rc = dump_ended(s)) < 0) {
			snprintf(err, errlen, "%s", s->err);
			goto out;
		}
	}
	randombytes_buf(s->id, sizeof(s->id));
	crypto_onetimeauth_keygen(s->mac_key);
	if ((rc = net_mac_init(&s->hash, s->mac_key)) < 0) {
		snprintf(err, errlen, "the stream's MAC: libcrypto failed");
		goto out;
	}
	int attempts = o->attempts > 0 ? o->attempts : 10;
	double deadline = o->deadline > 0 ? o->deadline : 600, t_progress = t0;
	uint64_t best = 0;
	for (int a = 1;; a++) {
		bool fatal = false;
		uint64_t reached = 0;
		int fd = dial(o->target, s->err, sizeof(s->err));
		if (fd >= 0) {
			rc = session(s, fd, &fatal, &reached);
			net_conn_wipe(&s->c);
			close(fd);
			if (rc == 0) {
				double secs = now() - t0;
				if (s->streamed)
					cap_log("net: streamed the dump with a %zu MiB window, at most "
						"%llu bytes unacknowledged", s->cap >> 20,
						(unsigned long long)s->peak);
				cap_log("net: sent %llu bytes to %s in %.2f s (%.1f MB/s); stored as %s",
					(unsigned long long)s->total, o->target, secs,
					secs > 0 ? (double)s->total / 1e6 / secs : 0.0,
					(char *)s->buf);
				goto out;
			}
		} else {
			rc = fd;
			fatal = fd == -EINVAL;
		}
		if (reached > best) {
			/* the deadline counts time without progress */
			best = reached;
			t_progress = now();
		}
		if (fatal || a >= attempts || now() - t_progress >= deadline) {
			snprintf(err, errlen, "%s: %s (attempt %d of %d)", o->target, s->err, a,
				 attempts);
			goto out;
		}
		double wait = 0.2 * (double)(1u << (a < 5 ? a - 1 : 4));
		if (wait > 5)
			wait = 5;
		if (now() - t_progress + wait > deadline)
			wait = deadline - (now() - t_progress);
		cap_log("net: %s; reconnecting in %.1f s (attempt %d of %d)", s->err, wait, a + 1,
			attempts);
		struct timespec ts = { .tv_sec = (time_t)wait,
				       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };
		nanosleep(&ts, NULL);
	}
out:
	if (rc < 0)
		drain(s);
	net_mac_free(&s->hash);
	for (int i = 0; i < NET_FILES; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->ring) {
		sodium_memzero(s->ring, s->cap);
		free(s->ring);
	}
	sodium_memzero(s, sizeof(*s));
	free(s);
	return rc;
}
