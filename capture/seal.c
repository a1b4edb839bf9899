/* seal.c - salvage-capture --seal-to: the dump and its kernel log reach the
 * disk sealed (net/seal.c; docs/formats.md §8.2), never in the clear.
 *
 * The capture writes its flattened stream into a pipe (as -F writes to
 * standard output) and the log into a FIFO; one thread each seals what
 * arrives into the real file.  Streaming and bounded: a pipe, a read buffer
 * and the sealer's two chunks per file.
 */
#include "internal.h"
#include "agent.h"
#include "../net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BUF (256u << 10)

static void *seal_thread(void *arg)
{
	struct cap_seal_job *j = arg;
	struct net_seal s;
	uint8_t *buf = malloc(READ_BUF);
	int rc = buf ? net_seal_begin(&s, j->ofd, j->pk) : -ENOMEM;

	while (rc == 0) {
		ssize_t n = read(j->rfd, buf, READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0) {
			struct stat st;
			rc = net_seal_end(&s);
			j->written = s.written;
			/* a FIFO (a streamed dump, agent-stream.c) has nothing to sync */
			if (rc == 0 && fstat(j->ofd, &st) == 0 && S_ISREG(st.st_mode) &&
			    fsync(j->ofd) < 0)
				rc = -errno;
			break;
		}
		rc = net_seal_write(&s, buf, (size_t)n);
	}
	if (buf)
		net_seal_free(&s);
	/* drain, so that the writer never blocks on a full pipe after an error */
	while (rc < 0 && buf && read(j->rfd, buf, READ_BUF) > 0)
		;
	free(buf);
	j->rc = rc;
	return NULL;
}

/* The thread reads rfd; or, with a FIFO path (rfd < 0), opens it first. */
static void *fifo_thread(void *arg)
{
	struct cap_seal_job *j = arg;

	j->rfd = open(j->fifo, O_RDONLY | O_CLOEXEC);   /* until the writer comes */
	if (j->rfd < 0) {
		j->rc = -errno;
		return NULL;
	}
	return seal_thread(arg);
}

/* Seal what is written into *wfd (a pipe), or into the FIFO fifo (wfd
 * NULL: the capture opens it by name), into path. */
static int job_start(struct cap_seal_job *j, const char *path, const uint8_t *pk, int *wfd,
		     const char *fifo, char *err, size_t errlen)
{
	int p[2];

	snprintf(j->path, sizeof(j->path), "%s", path);
	memcpy(j->pk, pk, NET_KEY_BYTES);
	j->rfd = -1;
	j->ofd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->ofd < 0)
		return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -errno;
	if (wfd) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return snprintf(err, errlen, "pipe: %s", strerror(errno)), -errno;
		j->rfd = p[0];
		*wfd = p[1];
	} else {
		snprintf(j->fifo, sizeof(j->fifo), "%s", fifo);
	}
	if (pthread_create(&j->th, NULL, wfd ? seal_thread : fifo_thread, j) != 0) {
		if (wfd) {
			close(p[0]);
			close(p[1]);
		}
		return snprintf(err, errlen, "cannot start a thread"), -EAGAIN;
	}
	j->started = true;
	return 0;
}

static int job_join(struct cap_seal_job *j)
{
	if (!j->started)
		return 0;
	if (j->fifo[0]) {
		/* a thread still waiting for a writer that never came: be it */
		int fd = open(j->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
	}
	pthread_join(j->th, NULL);
	j->started = false;
	if (j->rfd >= 0)
		close(j->rfd);
	if (close(j->ofd) < 0 && j->rc == 0)
		j->rc = -errno;
	return j->rc;
}

int cap_seal_start(struct cap_sealer *s, struct cap_options *o, const char *pubfile,
		   char fp[17], char *err, size_t errlen)
{
	struct net_pubkey pk;
	char dm[4096];
	int wfd;

	memset(s, 0, sizeof(*s));
	s->saved_stdout = -1;
	if (o->dmesg_only || !strcmp(o->output, "-"))
		return snprintf(err, errlen, "needs an OUTPUT file and a dump"), -EINVAL;
	if (net_init() < 0 || net_pubkey_load(pubfile, &pk, err, errlen) < 0)
		return -EINVAL;
	net_fingerprint(pk.pk, fp);
	snprintf(dm, sizeof(dm), "%s.dmesg.txt", o->output);
	snprintf(s->dmesg_out, sizeof(s->dmesg_out), "%s", o->dmesg_path ? o->dmesg_path : dm);
	/* the log goes through a FIFO in a private directory next to it: the
	 * log writer opens its path by name and follows no symbolic link */
	char *slash = strrchr(s->dmesg_out, '/');
	snprintf(s->fifo_dir, sizeof(s->fifo_dir), "%.*s.salvage-seal.XXXXXX",
		 slash ? (int)(slash - s->dmesg_out + 1) : 0, s->dmesg_out);
	if (!mkdtemp(s->fifo_dir))
		return snprintf(err, errlen, "%s: %s", s->fifo_dir, strerror(errno)), -EIO;
	snprintf(s->dmesg_fdpath, sizeof(s->dmesg_fdpath), "%s/dmesg", s->fifo_dir);
	if (mkfifo(s->dmesg_fdpath, 0600) < 0) {
		snprintf(err, errlen, "%s: %s", s->dmesg_fdpath, strerror(errno));
		rmdir(s->fifo_dir);
		return -EIO;
	}
	if (job_start(&s->dmesg, s->dmesg_out, pk.pk, NULL, s->dmesg_fdpath, err, errlen) < 0) {
		unlink(s->dmesg_fdpath);
		rmdir(s->fifo_dir);
		return -EIO;
	}
	if (job_start(&s->dump, o->output, pk.pk, &wfd, NULL, err, errlen) < 0) {
		job_join(&s->dmesg);
		unlink(s->dmesg_fdpath);
		rmdir(s->fifo_dir);
		return -EIO;
	}
	fflush(stdout);
	s->saved_stdout = dup(STDOUT_FILENO);
	if (s->saved_stdout < 0 || dup2(wfd, STDOUT_FILENO) < 0) {
		close(wfd);
		job_join(&s->dump);
		job_join(&s->dmesg);
		unlink(s->dmesg_fdpath);
		rmdir(s->fifo_dir);
		return snprintf(err, errlen, "dup: %s", strerror(errno)), -EIO;
	}
	close(wfd);
	s->out_path = o->output;
	o->output = "-";
	o->flattened = true;
	o->dmesg_path = s->dmesg_fdpath;
	/* the pipes exist, made here; the real files were checked by the caller */
	o->overwrite = true;
	return 0;
}

int cap_seal_finish(struct cap_sealer *s, struct cap_options *o, struct cap_result *r,
		    char *err, size_t errlen)
{
	int rc1, rc2;

	fflush(stdout);
	dup2(s->saved_stdout, STDOUT_FILENO);   /* closes the dump pipe's last writer */
	close(s->saved_stdout);
	rc1 = job_join(&s->dump);
	rc2 = job_join(&s->dmesg);
	unlink(s->dmesg_fdpath);
	rmdir(s->fifo_dir);
	o->output = s->out_path;
	o->dmesg_path = s->dmesg_out;
	if (r->dmesg_saved)
		snprintf(r->dmesg_file, sizeof(r->dmesg_file), "%.500s", s->dmesg_out);
	if (rc1 < 0 || rc2 < 0) {
		snprintf(err, errlen, "%s: %s", rc1 < 0 ? s->out_path : s->dmesg_out,
			 strerror(-(rc1 < 0 ? rc1 : rc2)));
		return -EIO;
	}
	return 0;
}
