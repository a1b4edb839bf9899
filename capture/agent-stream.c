/* agent-stream.c - a capture streamed to `salvage receive` while it runs
 * (DESIGN.md "Dumps over the network"): the agent's net: targets and
 * salvage-capture --target without OUTPUT.  The capture writes into a FIFO;
 * a thread runs the sender (agent-net.c) on it, which keeps only its window
 * of unacknowledged bytes; when the dump's stream ends, the sender asks for
 * meta.json and dmesg.txt (net_tail), which exist only once the capture has
 * finished, and sends them after it. */
#include "internal.h"
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t cap_net_stream_bound(uint64_t source_bytes)
{
	uint64_t b = source_bytes + (source_bytes >> 3);

	return b < source_bytes || b > UINT64_MAX - (512u << 20) ? UINT64_MAX : b + (512u << 20);
}

size_t cap_net_window(uint64_t avail)
{
	uint64_t w = avail / 8;
	const char *env = getenv("SALVAGE_NET_WINDOW");

	if (env && *env)
		w = strtoull(env, NULL, 10) << 20;
	if (w > (64u << 20))
		w = 64u << 20;
	return w < CAP_NET_WINDOW_MIN ? CAP_NET_WINDOW_MIN : (size_t)w;
}

/* The sender's thread has read the dump's end: wait for the capture to end,
 * then meta.json and dmesg.txt follow. */
static int net_tail(void *arg, struct cap_net_send *ns)
{
	struct cap_net_stream *st = arg;

	pthread_mutex_lock(&st->lock);
	while (!st->ready)
		pthread_cond_wait(&st->cond, &st->lock);
	int ok = st->ok;
	pthread_mutex_unlock(&st->lock);
	if (!ok)
		return -EIO;
	memset(ns->src, 0, sizeof(ns->src));
	if (st->meta_mem) {
		ns->src[0].mem = st->meta_mem;
		ns->src[0].len = st->meta_len;
	} else if (st->meta_path && access(st->meta_path, R_OK) == 0) {
		ns->src[0].path = st->meta_path;
	}
	if (st->dmesg_path && access(st->dmesg_path, R_OK) == 0)
		ns->src[1].path = st->dmesg_path;
	return 0;
}

static void *net_thread(void *arg)
{
	struct cap_net_stream *st = arg;
	char why[sizeof(st->why)];
	int rc = cap_net_send(&st->ns, why, sizeof(why));

	pthread_mutex_lock(&st->lock);
	st->rc = rc;
	memcpy(st->why, why, sizeof(why));
	st->done = 1;
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int cap_net_stream_start(struct cap_net_stream *st, const struct cap_net_send *ns,
			 const char *fifo, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	if (snprintf(st->fifo, sizeof(st->fifo), "%s", fifo) >= (int)sizeof(st->fifo))
		return snprintf(err, errlen, "%s: path too long", fifo), -ENAMETOOLONG;
	if (mkfifo(st->fifo, 0600) < 0)
		return snprintf(err, errlen, "%s: %s", st->fifo, strerror(errno)), -errno;
	st->ns = *ns;
	st->ns.dump_fifo = st->fifo;
	st->ns.tail = net_tail;
	st->ns.tail_arg = st;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	int rc = pthread_create(&st->th, NULL, net_thread, st);
	if (rc) {
		unlink(st->fifo);
		pthread_mutex_destroy(&st->lock);
		pthread_cond_destroy(&st->cond);
		return snprintf(err, errlen, "cannot start the sender's thread: %s", strerror(rc)), -rc;
	}
	return 0;
}

int cap_net_stream_finish(struct cap_net_stream *st, int ok, const char *meta_path,
			  const char *meta_mem, uint64_t meta_len, const char *dmesg_path,
			  char *why, size_t whylen)
{
	/* a capture that never opened the FIFO: be its writer, so that the
	 * sender's open returns (and sees the end at once); bounded by the
	 * sender, which always opens the FIFO unless it has ended */
	for (;;) {
		pthread_mutex_lock(&st->lock);
		int done = st->done;
		pthread_mutex_unlock(&st->lock);
		int fd = open(st->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0 || done || errno != ENXIO) {
			if (fd >= 0)
				close(fd);
			break;
		}
		struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&st->lock);
	st->ok = ok;
	st->meta_path = meta_path;
	st->meta_mem = meta_mem;
	st->meta_len = meta_len;
	st->dmesg_path = dmesg_path;
	st->ready = 1;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->th, NULL);
	unlink(st->fifo);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	snprintf(why, whylen, "%s", st->why);
	return st->rc;
}
