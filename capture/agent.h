/* agent.h - salvage-capture as the crash kernel's init.
 *
 * capture/main.c calls cap_agent_main() when the program runs as PID 1 or is
 * given --init.  The agent mounts /proc, /sys and /dev, reads its
 * configuration (/etc/salvage.conf, then salvage.KEY=VALUE words of
 * /proc/cmdline), loads the kernel modules its target needs, mounts the
 * target, runs cap_run() into DIR/<hostname>-<UTC time>/ and ends with the
 * configured final action.  A watchdog bounds the whole run.
 *
 * The configuration's keys, types, defaults and ranges are the schema in
 * config/config.h, shared with `salvage mkinitramfs`, which writes it.
 */
#ifndef SALVAGE_CAPTURE_AGENT_H
#define SALVAGE_CAPTURE_AGENT_H

/* Entry point of the agent; argv are the program's arguments.  As PID 1 it
 * never returns (the final action reboots, powers off or execs the shell);
 * otherwise it returns an exit status (enum cap_status) when the action is
 * "exit".  Options: --init, --config FILE, --cmdline FILE (instead of
 * /proc/cmdline), --set KEY=VALUE, --print-config (print the configuration
 * the agent would run with, and the values it refused, then exit), --probe DEVICE (print the file system type,
 * UUID and label of a device or image, then exit), --help. */
int cap_agent_main(int argc, char **argv);

#include <stddef.h>
#include <stdint.h>

/* Send a dump to `salvage receive` (capture/agent-net.c).  src: meta.json,
 * dmesg.txt, the dump, each a file (path) or bytes in memory (mem, len), or
 * neither (empty).  Retries a cut connection with back-off, resuming at the
 * receiver's durable offset, at most attempts times (0: 10) and until
 * deadline seconds (0: 600) pass without a byte of progress.  Logs each reconnection through cap_log.  Returns 0 or a
 * negative errno with the reason in err. */
struct cap_net_send {
	const char *target;             /* HOST:PORT */
	const char *key;                /* the agent's private key file */
	const char *receiver_key;       /* the receiver's .pub file */
	struct { const char *path; const char *mem; uint64_t len; } src[3];
	uint64_t crash_time;            /* seconds since the epoch (names the directory) */
	int attempts;
	double deadline;
	/* streamed: the dump is the flattened stream read from this FIFO while
	 * it is captured (src[2] unused), at most bound bytes in all; the
	 * unacknowledged bytes stay in a window of window bytes; when the dump
	 * has ended, tail(tail_arg, o) fills src[0] and src[1] (< 0: give up) */
	const char *dump_fifo;
	uint64_t bound;
	size_t window;
	int (*tail)(void *arg, struct cap_net_send *o);
	void *tail_arg;
	/* streamed: the FIFO carries a sealed file (stored as sent), not a
	 * flattened stream (which the receiver reassembles) */
	int sealed;
};
#define CAP_NET_WINDOW_MIN (16u << 20)  /* four of the receiver's ack intervals */
int cap_net_send(struct cap_net_send *o, char *err, size_t errlen);

/* Streaming a capture to a receiver (capture/agent-stream.c): the agent's
 * net: targets and salvage-capture --target without OUTPUT.  start makes the
 * FIFO fifo (mode 0600) and starts a thread running cap_net_send on it (ns
 * copied; ns->dump_fifo, tail set here); the capture then writes its
 * flattened (or sealed) stream into fifo.  finish, once the capture has
 * ended: ok says it produced a dump; meta (a path, or mem and len) and
 * dmesg (a path or NULL; ignored when unreadable) follow the dump.  It waits
 * for the sender, removes the FIFO and returns cap_net_send's result (the
 * reason in why). */
#include <pthread.h>
struct cap_net_stream {
	struct cap_net_send ns;
	char fifo[4200];
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ready, ok, done, rc;
	const char *meta_path, *meta_mem, *dmesg_path;
	uint64_t meta_len;
	char why[512];
};
/* The bound announced for the stream of a source of this size: the size,
 * an eighth more and 512 MiB (headers, bitmaps, the log, a sealed file's
 * 17 bytes a MiB). */
uint64_t cap_net_stream_bound(uint64_t source_bytes);
/* The window of unacknowledged bytes: 64 MiB, or an eighth of avail (the
 * memory available), whichever is smaller, never below CAP_NET_WINDOW_MIN
 * (SALVAGE_NET_WINDOW=MiB in the environment: tests). */
size_t cap_net_window(uint64_t avail);
int cap_net_stream_start(struct cap_net_stream *st, const struct cap_net_send *ns,
			 const char *fifo, char *err, size_t errlen);
int cap_net_stream_finish(struct cap_net_stream *st, int ok, const char *meta_path,
			  const char *meta_mem, uint64_t meta_len, const char *dmesg_path,
			  char *why, size_t whylen);

/* salvage-capture --seal-to (capture/seal.c): start turns the options into a
 * flattened capture through pipes whose bytes threads seal into the output
 * and log files; finish (after cap_run) closes the pipes, waits, restores
 * the options' paths.  fp: the recipient key's fingerprint. */
#include <pthread.h>
#include <stdbool.h>
struct cap_seal_job {
	int rfd, ofd, rc;
	uint64_t written;               /* bytes of the sealed file */
	uint8_t pk[32];
	pthread_t th;
	bool started;
	char path[4096];
	char fifo[4200];                /* read from this FIFO ("" a pipe) */
};
struct cap_sealer {
	struct cap_seal_job dump, dmesg;
	int saved_stdout;
	char fifo_dir[4200];
	char dmesg_fdpath[4300];
	const char *out_path;
	char dmesg_out[4096];
};
struct cap_options;
struct cap_result;
int cap_seal_start(struct cap_sealer *s, struct cap_options *o, const char *pubfile,
		   char fp[17], char *err, size_t errlen);
int cap_seal_finish(struct cap_sealer *s, struct cap_options *o, struct cap_result *r,
		    char *err, size_t errlen);

#endif
