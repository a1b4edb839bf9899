/* agent-internal.h - shared by capture/agent*.c only.
 *
 * Helpers return 0 or a negative errno and never log; they may leave a
 * one-line reason in a caller's buffer.  Only the stages in agent.c log, once
 * per failure (style.md: "one log line per failure at the stage boundary").
 */
#ifndef SALVAGE_CAPTURE_AGENT_INTERNAL_H
#define SALVAGE_CAPTURE_AGENT_INTERNAL_H

#include "agent.h"
#include "capture.h"
#include "../config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cap_agent_action {
	CAP_ACT_REBOOT = CFG_ACT_REBOOT,
	CAP_ACT_POWEROFF = CFG_ACT_POWEROFF,
	CAP_ACT_SHELL = CFG_ACT_SHELL,
	CAP_ACT_EXIT = CFG_ACT_EXIT,       /* return the status: tests and non-init use */
};

/* ---- agent-config.c: the schema's values in the capture's terms ---- */
const char *cap_agent_action_name(unsigned action);   /* enum cfg_action */
const char *cap_agent_codec_name(unsigned codec);     /* enum cfg_codec */
unsigned cap_agent_codec_bit(unsigned codec);         /* VMC_COMP_* bit, 0 none */
enum cap_format cap_agent_format(unsigned format);    /* enum cfg_format */
/* Called for each refused value, with where it was and why. */
typedef void cap_agent_config_report_fn(const char *where, const char *why);
/* The configuration stage: defaults, then the file at path (absent: only
 * reported), then the salvage.* words of cmdline (may be NULL), then sets
 * (KEY=VALUE).  A refused value keeps the previous one and is reported.
 * Returns the count of refused values. */
int cap_agent_config_load(struct cfg *c, const char *path, const char *cmdline,
			  const char *const *sets, size_t nsets,
			  cap_agent_config_report_fn *report);

/* ---- agent-kmod.c ---- */
struct cap_agent_kmod_stats {
	unsigned loaded, present, failed;
	unsigned soft_failed;   /* soft dependencies that did not load (not errors) */
	char first_error[256];
};
/* Load modules (comma or space separated names) and their dependencies from
 * /lib/modules/<release>/modules.dep.  Missing modules that are built in or
 * already loaded count as present.  Returns 0 when every module is there,
 * else -ENOENT or the first load error. */
int cap_agent_kmod_load(const char *names, struct cap_agent_kmod_stats *st);
/* Is a file system type available (/proc/filesystems)? */
bool cap_agent_have_fs(const char *fstype);

/* ---- agent-target.c: superblocks ---- */
struct cap_agent_fsinfo {
	char type[16];            /* "ext4", "xfs" */
	char uuid[40];            /* 8-4-4-4-12 lowercase */
	char label[64];
};
/* Read a file system superblock from a block device or image: 0, -ENODATA
 * when no known file system is there, or -errno. */
int cap_agent_probe(const char *dev, struct cap_agent_fsinfo *fi);

/* ---- agent-target.c ---- */
struct cap_agent_target {
	bool is_dir;              /* dir:PATH, nothing to mount */
	char spec[256];           /* UUID=..., LABEL=..., /dev/... */
	char subdir[256];         /* DIR inside the file system */
	char device[128];         /* resolved /dev node */
	struct cap_agent_fsinfo fs;
	char mountpoint[128];
	bool mounted;
	char dir[512];            /* mountpoint + subdir: where dumps go */
};
int cap_agent_target_parse(const char *text, struct cap_agent_target *t, char *why,
			   size_t whylen);
/* Wait at most wait_s seconds for the device to appear; fills t->device and t->fs. */
int cap_agent_target_find(struct cap_agent_target *t, unsigned wait_s, char *why,
			  size_t whylen);
/* Mount (loading the file system's module if needed) and create DIR. */
int cap_agent_target_mount(struct cap_agent_target *t, const char *fstype, char *why,
			   size_t whylen);
void cap_agent_target_umount(struct cap_agent_target *t);
/* Free bytes for root (statvfs f_bfree) of the file system holding path. */
int cap_agent_free_bytes(const char *path, uint64_t *bytes);

/* ---- agent-netif.c: the network for net: targets ---- */
struct cap_agent_net {
	char ifname[17];
	int ifindex;
	char mac[18];
	char addr[16], gw[16];    /* dotted IPv4; gw empty: no default route */
	unsigned prefix;
	bool dhcp;
	char modules[256];        /* NIC drivers loaded, comma separated */
};
/* Load the NIC drivers, pick the interface, bring it up, address and route
 * it (c->net: dhcp or static:...), all within c->net_wait seconds. */
int cap_agent_net_up(const struct cfg *c, struct cap_agent_net *n, char *why, size_t whylen);

/* ---- agent-store.c ---- */
/* Remove the oldest dump directories in dir so that at most keep-1 remain
 * (keep 0: no limit) and, while free space is below minfree, more.  Names of
 * removed directories are appended to removed (comma separated). */
int cap_agent_prune(const char *dir, unsigned keep, uint64_t minfree, char *removed,
		    size_t removedlen, unsigned *nremoved);
/* Create dir/<host>-<YYYYmmddTHHMMSSZ>[.N]/ and return its path. */
int cap_agent_make_dump_dir(const char *dir, const char *host, int64_t when, char *out,
			    size_t outlen);
/* fsync path, rename it to newpath, fsync the directory. */
int cap_agent_commit(const char *tmppath, const char *newpath);
/* fsync a directory. */
int cap_agent_sync_dir(const char *dir);

/* ---- agent-meta.c ---- */
struct cap_agent_run;
/* Write meta.json for the run through a temporary name (pre-reserved space
 * is reused).  Returns 0 or -errno. */
int cap_agent_write_meta(const struct cap_agent_run *run);
/* Reserve space for meta.json before the dump can fill the disk. */
int cap_agent_reserve_meta(const struct cap_agent_run *run);

/* ---- agent.c: the run's state, read by agent-meta.c ---- */
#define CAP_AGENT_LOGLINES 64
struct cap_agent_run {
	struct cfg cfg;
	struct cap_agent_target target;
	char dumpdir[640];
	char hostname[65];
	char osrelease[65];
	char crash_kernel[65];    /* uname -r of the running (crash) kernel */
	int64_t crash_time;       /* CRASHTIME, or -1 */
	int64_t started;          /* wall clock at start */
	double t_start;           /* monotonic at start */
	double t_modules, t_device, t_mount, t_prune, t_capture, t_total;
	uint64_t free_before, free_after;
	char pruned[1024];
	unsigned npruned;
	bool have_result;
	struct cap_result result;
	const char *status;       /* "ok", "incomplete", "dmesg-only", "failed", "timeout" */
	char error[512];
	char dump_file[32];       /* final name of the dump ("" when none) */
	uint64_t dump_bytes;
	char dmesg_file[32];
	uint64_t dmesg_bytes;
	char sealed_to[17];       /* fingerprint of the seal_to key ("" plain) */
	char *log[CAP_AGENT_LOGLINES];
	size_t nlog;
};

double cap_agent_now(void);   /* monotonic seconds */

/* agent.c: at most len - 1 bytes of a small file into buf (NUL terminated);
 * the count, or -errno. */
ssize_t cap_agent_read_small(const char *path, char *buf, size_t len);

#endif
