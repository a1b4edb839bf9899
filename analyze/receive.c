/* receive.c - `salvage receive`: the receiver of dumps sent over the network
 * (DESIGN.md "Dumps over the network"; the transport is net/).  This file:
 * the options, the listener, the authorized-keys table (reloaded on SIGHUP)
 * and the pruning of stale transfers; a connection's protocol is in
 * receive-session.c, a transfer's files in receive-store.c.
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
#include "receive.h"
#include "../config/config.h"
#include "../net/net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <time.h>
#include <unistd.h>

#define STACK_BYTES (256u << 10)

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

struct rx_opts rx_opt;
static struct authtab *rx_auth_cur;
static volatile sig_atomic_t got_hup;
pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
unsigned rx_active;
static unsigned session_seq;
uint8_t rx_active_ids[MAX_ACTIVE_IDS][NET_KEY_BYTES + NET_ID_BYTES];
bool rx_active_used[MAX_ACTIVE_IDS];


void rlog(const struct session *s, const char *fmt, ...)
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
	pthread_mutex_lock(&rx_lock);
	if (s)
		fprintf(stderr, "%s receive %s (%s): %s\n", ts, s->tag, s->peer, msg);
	else
		fprintf(stderr, "%s receive: %s\n", ts, msg);
	pthread_mutex_unlock(&rx_lock);
}

struct authtab *rx_auth_get(void)
{
	pthread_mutex_lock(&rx_lock);
	struct authtab *t = rx_auth_cur;
	t->refs++;
	pthread_mutex_unlock(&rx_lock);
	return t;
}

void rx_auth_put(struct authtab *t)
{
	pthread_mutex_lock(&rx_lock);
	bool last = --t->refs == 0;
	pthread_mutex_unlock(&rx_lock);
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
	pthread_mutex_lock(&rx_lock);
	struct authtab *old = rx_auth_cur;
	rx_auth_cur = t;
	pthread_mutex_unlock(&rx_lock);
	if (old)
		rx_auth_put(old);
	return 0;
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
		rlog(NULL, "listening on %s port %s, storing into %s", h, p, rx_opt.dir);
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

	snprintf(path, sizeof(path), "%s/.incoming", rx_opt.dir);
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
		pthread_mutex_lock(&rx_lock);
		for (int i = 0; i < MAX_ACTIVE_IDS && !held; i++) {
			if (!rx_active_used[i])
				continue;
			net_fingerprint(rx_active_ids[i], fp);
			sodium_bin2hex(idhex, sizeof(idhex), rx_active_ids[i] + NET_KEY_BYTES, NET_ID_BYTES);
			snprintf(name, sizeof(name), "%s-%s", fp, idhex);
			held = !strcmp(name, e->d_name);
		}
		pthread_mutex_unlock(&rx_lock);
		if (held || now - newest < (time_t)rx_opt.incoming_max_age) {
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

	rx_opt.max_size = 1ULL << 40;
	rx_opt.min_free = 1ULL << 30;
	rx_opt.max_clients = 32;
	rx_opt.timeout = 60;
	rx_opt.incoming_max_age = 7 * 86400;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'L': listen_spec = optarg; break;
		case 'd': rx_opt.dir = optarg; break;
		case 'k': keyf = optarg; break;
		case 'a': authf = optarg; break;
		case 'p': port_file = optarg; break;
		case 'D': rx_opt.archive = optarg; break;
		case 'm': case 'f':
			if (cfg_parse_size(optarg, &v) < 0 || (opt == 'm' && !v)) {
				fprintf(stderr, "salvage receive: bad size '%s'\n", optarg);
				return AZ_EXIT_USAGE;
			}
			*(opt == 'm' ? &rx_opt.max_size : &rx_opt.min_free) = v;
			break;
		case 'c': case 't':
			if (cfg_parse_uint(optarg, &v) < 0 || !v || v > 100000) {
				fprintf(stderr, "salvage receive: bad number '%s'\n", optarg);
				return AZ_EXIT_USAGE;
			}
			*(opt == 'c' ? &rx_opt.max_clients : &rx_opt.timeout) = (unsigned)v;
			break;
		case 'A':
			if (cfg_parse_uint(optarg, &v) < 0 || v < 3600 || v > (1ULL << 40)) {
				fprintf(stderr, "salvage receive: bad age '%s' (seconds, at least 3600)\n",
					optarg);
				return AZ_EXIT_USAGE;
			}
			rx_opt.incoming_max_age = v;
			break;
		case 'h': fputs(usage_text, stdout); return AZ_EXIT_OK;
		default: fputs(usage_text, stderr); return AZ_EXIT_USAGE;
		}
	}
	if (!listen_spec || !rx_opt.dir || !keyf || !authf || optind != argc) {
		fputs(usage_text, stderr);
		return AZ_EXIT_USAGE;
	}
	if (net_init() < 0) {
		fprintf(stderr, "salvage receive: cannot initialise libsodium\n");
		return AZ_EXIT_FAIL;
	}
	if (net_key_load(keyf, &rx_opt.key, err, sizeof(err)) < 0 ||
	    auth_load(authf, err, sizeof(err)) < 0) {
		fprintf(stderr, "salvage receive: %s\n", err);
		return AZ_EXIT_FAIL;
	}
	struct stat st;
	if (stat(rx_opt.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "salvage receive: %s: not a directory\n", rx_opt.dir);
		return AZ_EXIT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = listen_on(listen_spec, port_file)) < 0)
		return AZ_EXIT_FAIL;
	rlog(NULL, "%zu authorized agent key(s), at most %u connections", rx_auth_cur->n, rx_opt.max_clients);
	struct sigaction sa = { .sa_handler = on_hup };     /* no SA_RESTART: ppoll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	/* SIGHUP is taken by this thread only, inside ppoll: it is blocked
	 * here, and so in every thread started from here (delivered to a
	 * session's thread, it would leave the listener asleep up to a
	 * minute before the reload) */
	sigset_t hup, waitmask;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, &waitmask);
	sigdelset(&waitmask, SIGHUP);
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
		struct timespec wait = { .tv_sec = 60 };
		int pr = ppoll(&pf, 1, &wait, &waitmask);
		if (got_hup) {
			got_hup = 0;
			if (auth_load(authf, err, sizeof(err)) < 0)
				rlog(NULL, "SIGHUP: %s; the keys loaded before stay", err);
			else
				rlog(NULL, "SIGHUP: %zu authorized agent key(s) reloaded", rx_auth_cur->n);
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
		pthread_mutex_lock(&rx_lock);
		tmp.no = ++session_seq;
		bool full = rx_active >= rx_opt.max_clients;
		if (!full)
			rx_active++;
		pthread_mutex_unlock(&rx_lock);
		snprintf(tmp.tag, sizeof(tmp.tag), "#%u", tmp.no);
		if (full) {
			rlog(&tmp, "refused: %u connections already", rx_opt.max_clients);
			close(fd);
			continue;
		}
		struct timeval tv = { .tv_sec = rx_opt.timeout };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		struct conn_mem *m = malloc(sizeof(*m));
		pthread_t th;
		if (!m || (m->s = tmp, pthread_create(&th, &attr, rx_session_thread, m) != 0)) {
			rlog(&tmp, "refused: out of memory or threads");
			free(m);
			close(fd);
			pthread_mutex_lock(&rx_lock);
			rx_active--;
			pthread_mutex_unlock(&rx_lock);
		}
	}
}
