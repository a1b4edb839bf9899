/* agent-net.c - sending a dump to `salvage receive` (the net: target).
 *
 * The stream is meta.json, dmesg.txt, then the dump, each announced with its
 * size in the open message; the receiver answers with the offset it holds
 * durably and the agent sends from there.  A cut connection is retried with
 * back-off, bounded in attempts and time, and resumes at the receiver's
 * offset: nothing is sent twice into the stored files.  A Poly1305 MAC of
 * the whole stream (under a key made for this transfer, sent in the open
 * message) closes the transfer; the receiver compares it with what it
 * stored before it keeps anything.
 *
 * The dump is a finished file (salvage-capture writes it first, or it
 * already exists), so resuming is a seek; memory is the connection's fixed
 * buffers, whatever the dump's size.
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

struct sender {
	const struct cap_net_send *o;
	struct net_keypair me;
	struct net_pubkey rx;
	int fd[NET_FILES];
	uint64_t size[NET_FILES], start[NET_FILES], total;
	uint8_t id[NET_ID_BYTES];
	uint8_t mac_key[NET_MAC_KEY_BYTES];   /* the transfer's Poly1305 key */
	crypto_onetimeauth_state hash;
	uint64_t hashed;                /* stream bytes in hash */
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

/* Read stream bytes [off, off+n) (n within one file or the memory source). */
static int stream_read(struct sender *s, uint64_t off, uint8_t *p, size_t n, size_t *got)
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
	if (s->o->src[i].mem) {
		memcpy(p, s->o->src[i].mem + in, n);
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

/* Bring the running hash to offset off (from 0 again if it is past it). */
static int hash_to(struct sender *s, uint64_t off)
{
	size_t got;
	int rc;

	if (s->hashed > off) {
		crypto_onetimeauth_init(&s->hash, s->mac_key);
		s->hashed = 0;
	}
	while (s->hashed < off) {
		uint64_t want = off - s->hashed < CHUNK ? off - s->hashed : CHUNK;
		if ((rc = stream_read(s, s->hashed, s->buf, (size_t)want, &got)) < 0)
			return rc;
		crypto_onetimeauth_update(&s->hash, s->buf, got);
		s->hashed += got;
	}
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

/* One connection: handshake, open, data from the receiver's offset, end. */
static int session(struct sender *s, int fd, bool *fatal, uint64_t *reached)
{
	uint8_t open_msg[NET_OPEN_BYTES], type;
	uint64_t off, v;
	int rc;

	rc = net_handshake_client(&s->c, fd, &s->me, s->rx.pk, s->err, sizeof(s->err));
	if (rc < 0) {
		*fatal = rc == NET_E_REFUSED || rc == NET_E_AUTH || rc == NET_E_VERSION ||
			 rc == NET_E_PROTO;
		return rc;
	}
	memcpy(open_msg, s->id, NET_ID_BYTES);
	net_put64(open_msg + NET_ID_BYTES, s->o->crash_time);
	for (int i = 0; i < NET_FILES; i++)
		net_put64(open_msg + NET_ID_BYTES + 8 + 8 * i, s->size[i]);
	memcpy(open_msg + NET_OPEN_BYTES - NET_MAC_KEY_BYTES, s->mac_key, NET_MAC_KEY_BYTES);
	if ((rc = net_send(&s->c, NET_MSG_OPEN, open_msg, sizeof(open_msg))) < 0)
		return snprintf(s->err, sizeof(s->err), "send: %s", strerror(-rc)), rc;
	if ((rc = take_reply(s, &type, &off, fatal)) < 0)
		return rc;
	if (type != NET_MSG_ACCEPT || off > s->total) {
		*fatal = true;
		return snprintf(s->err, sizeof(s->err), "bad answer to the open message"), -EPROTO;
	}
	if (off)
		cap_log("net: %s holds %llu of %llu bytes: resuming there", s->o->target,
			(unsigned long long)off, (unsigned long long)s->total);
	if ((rc = hash_to(s, off)) < 0) {
		*fatal = true;
		return snprintf(s->err, sizeof(s->err), "reading the dump: %s", strerror(-rc)), rc;
	}
	while (off < s->total) {
		uint8_t *p = s->buf + 8;
		size_t got;
		uint64_t want = s->total - off < CHUNK ? s->total - off : CHUNK;
		if ((rc = stream_read(s, off, p, (size_t)want, &got)) < 0) {
			*fatal = true;
			return snprintf(s->err, sizeof(s->err), "reading the dump: %s",
					strerror(-rc)), rc;
		}
		crypto_onetimeauth_update(&s->hash, p, got);
		s->hashed += got;
		net_put64(s->buf, off);
		if ((rc = net_send(&s->c, NET_MSG_DATA, s->buf, 8 + got)) < 0)
			return snprintf(s->err, sizeof(s->err), "connection lost at offset %llu: %s",
					(unsigned long long)off, strerror(-rc)), rc;
		off += got;
		*reached = off;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		while (poll(&pf, 1, 0) == 1) {
			if ((rc = take_reply(s, &type, &v, fatal)) < 0)
				return rc;
			pf.revents = 0;
		}
	}
	crypto_onetimeauth_state fin = s->hash;
	uint8_t digest[NET_MAC_BYTES];
	crypto_onetimeauth_final(&fin, digest);
	if ((rc = net_send(&s->c, NET_MSG_END, digest, sizeof(digest))) < 0)
		return snprintf(s->err, sizeof(s->err), "connection lost at the end: %s",
				strerror(-rc)), rc;
	for (;;) {
		if ((rc = take_reply(s, &type, &v, fatal)) < 0)
			return rc;
		if (type == NET_MSG_DONE)
			return 0;
	}
}

int cap_net_send(const struct cap_net_send *o, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof(*s));
	double t0 = now();
	int rc = -EINVAL;

	if (!s)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	s->o = o;
	for (int i = 0; i < NET_FILES; i++)
		s->fd[i] = -1;
	if (net_init() < 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		goto out;
	}
	if ((rc = net_key_load(o->key, &s->me, err, errlen)) < 0 ||
	    (rc = net_pubkey_load(o->receiver_key, &s->rx, err, errlen)) < 0)
		goto out;
	for (int i = 0; i < NET_FILES; i++) {
		struct stat st;
		s->start[i] = s->total;
		if (o->src[i].mem) {
			s->size[i] = o->src[i].len;
		} else if (o->src[i].path) {
			s->fd[i] = open(o->src[i].path, O_RDONLY | O_CLOEXEC);
			if (s->fd[i] < 0 || fstat(s->fd[i], &st) < 0) {
				rc = -errno;
				snprintf(err, errlen, "%s: %s", o->src[i].path, strerror(errno));
				goto out;
			}
			s->size[i] = (uint64_t)st.st_size;
		}
		s->total += s->size[i];
	}
	randombytes_buf(s->id, sizeof(s->id));
	crypto_onetimeauth_keygen(s->mac_key);
	crypto_onetimeauth_init(&s->hash, s->mac_key);
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
	for (int i = 0; i < NET_FILES; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	sodium_memzero(s, sizeof(*s));
	free(s);
	return rc;
}
