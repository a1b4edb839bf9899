/* config.h - the crash-kernel agent's configuration: one schema, one parser.
 *
 * The configuration is an interface between `salvage mkinitramfs` (which
 * checks and writes it into the image as /etc/salvage.conf), the agent
 * (salvage-capture as the crash kernel's init, which reads it and the
 * salvage.KEY=VALUE words of the kernel command line) and the documentation
 * (`salvage-capture --init --help`).  All three read CFG_KEYS below, so a
 * value mkinitramfs accepts is a value the agent accepts, and the other way
 * round, with the same message.
 *
 * A library of its own: libc only, no other salvage header.  Functions never
 * print; they return 0 or a negative errno and leave a one-line reason in the
 * caller's buffer ("level: '32' is not in 0-31").
 */
#ifndef SALVAGE_CONFIG_H
#define SALVAGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The configuration file baked into the initramfs. */
#define CFG_PATH "/etc/salvage.conf"

/* Longest line of the file and longest salvage.KEY=VALUE word of the kernel
 * command line, terminator excluded.  Longer ones are refused whole: a tail
 * is never read as a line of its own. */
#define CFG_LINE_MAX 4095
/* Largest configuration file a reader should accept. */
#define CFG_FILE_MAX (256u * 1024)

/* Numbers and sizes, the one syntax of every salvage program (the agent's
 * configuration, salvage-capture, salvage receive, authorized-keys limit=,
 * salvage archive; salvage.conf(5) "Sizes"): decimal digits only (no sign,
 * no 0x, a leading 0 is just a 0: "010" is ten); a size may end in K, M, G
 * or T, powers of 1024, in either case, optionally followed by B or iB
 * (either case): 64M = 64m = 64MiB = 64MB = 67108864.  0, or -EINVAL (not a
 * number: empty, other characters) or -ERANGE (above 2^64 - 1). */
int cfg_parse_uint(const char *s, uint64_t *out);
int cfg_parse_size(const char *s, uint64_t *out);

/* Value types.  Numbers as cfg_parse_uint (a sign only when the minimum is
 * negative) and at most 2^63 - 1; SIZE as cfg_parse_size.
 * STR: at most max bytes, no control characters.  TARGET: a STR that is
 * empty or what cfg_target_parse accepts.  ENUM: one of the words of
 * choices. */
enum cfg_type { CFG_STR, CFG_TARGET, CFG_INT, CFG_UINT, CFG_SECS, CFG_SIZE, CFG_ENUM, CFG_IDLIST };
/* IDLIST: comma-separated decimal ids in min..max, at most CFG_IDLIST_MAX of
 * them, kept as text (empty: none) */
#define CFG_IDLIST_MAX 16
#define CFG_IDLIST_LEN 127

/* Enumerations: the order of each enum is the order of its choices word list. */
enum cfg_format { CFG_FORMAT_KDUMP, CFG_FORMAT_ELF };
#define CFG_FORMATS "kdump elf"
enum cfg_codec { CFG_CODEC_ZSTD, CFG_CODEC_ZLIB, CFG_CODEC_LZO, CFG_CODEC_SNAPPY, CFG_CODEC_NONE };
#define CFG_CODECS "zstd zlib lzo snappy none"
enum cfg_action { CFG_ACT_REBOOT, CFG_ACT_POWEROFF, CFG_ACT_SHELL, CFG_ACT_EXIT };
#define CFG_ACTIONS "reboot poweroff shell exit"

#define CFG_K ((int64_t)1 << 10)
#define CFG_M ((int64_t)1 << 20)
#define CFG_G ((int64_t)1 << 30)
#define CFG_T ((int64_t)1 << 40)

/* Largest working memory budget: more than any crash kernel is given
 * (crashkernel= reservations are a few hundred MiB); the agent clamps a
 * budget above the memory it finds available. */
#define CFG_MEMORY_MAX (4 * CFG_G)
/* The watchdog's range: alarm(2) adds a margin to it, far below UINT_MAX. */
#define CFG_TIMEOUT_MIN 10
#define CFG_TIMEOUT_MAX (7 * 24 * 3600)

/* X(key, type, default, min, max, choices, help).  For STR, max is the
 * longest value in bytes (min unused); for ENUM, choices lists the words.
 * A new key is one line here, one field in struct cfg follows from it. */
#define CFG_KEYS(X) \
	X(target,         TARGET, "",           0, 511, NULL, "disk:SPEC[:DIR] (SPEC: UUID=, LABEL= or /dev/...; DIR default /var/crash), dir:PATH or net:ADDR:PORT; a comma list is tried in order") \
	X(fstype,         STR,  "",             0, 31, NULL, "force the target's file system type (empty: read from its superblock)") \
	X(format,         ENUM, "kdump",        0, 0, CFG_FORMATS, "dump format") \
	X(level,          UINT, "31",           0, 31, NULL, "dump level (makedumpfile's -d bits)") \
	X(xen_domu,       UINT, "0",            0, 1, NULL, "Xen dumps: 1 excludes domU pages (makedumpfile's -X), 0 keeps them") \
	X(xen_domains,    IDLIST, "",           1, 32751, NULL, "Xen dumps: domains whose frames are kept (salvage-capture --domains; implies xen_domu=1)") \
	X(codec,          ENUM, "zstd",         0, 0, CFG_CODECS, "compression") \
	X(codec_level,    INT,  "0",            -131072, 22, NULL, "compression level for zstd (0: salvage-capture's default, 2)") \
	X(action,         ENUM, "reboot",       0, 0, CFG_ACTIONS, "after a capture") \
	X(failure_action, ENUM, "reboot",       0, 0, CFG_ACTIONS, "after a failure") \
	X(keep,           UINT, "0",            0, 100000, NULL, "keep at most this many dumps in DIR, the new one included (0: all)") \
	X(minfree,        SIZE, "0",            0, 1024 * CFG_T, NULL, "delete the oldest dumps until DIR's file system has this much free") \
	X(timeout,        SECS, "3600",         CFG_TIMEOUT_MIN, CFG_TIMEOUT_MAX, NULL, "watchdog: the whole run is bounded by this many seconds") \
	X(wait,           SECS, "60",           0, 3600, NULL, "seconds to wait for the target device") \
	X(net,            STR,  "dhcp",         0, 127, NULL, "net: targets: dhcp, static:ADDR/PREFIX[:GATEWAY] (IPv4), or none (already up: the kernel's ip=)") \
	X(iface,          STR,  "",             0, 63, NULL, "net: targets: the interface's name or MAC (empty: the first with carrier)") \
	X(net_key,        STR,  "/etc/salvage/agent.key", 0, 255, NULL, "net: targets: the agent's private key (salvage keygen)") \
	X(receiver_key,   STR,  "/etc/salvage/receiver.pub", 0, 255, NULL, "net: targets: the receiver's public key") \
	X(net_modules,    STR,  "",             0, 2047, NULL, "net: targets: NIC drivers in the image, loaded when no modalias names one") \
	X(net_stage,      STR,  "/run/salvage-net", 0, 255, NULL, "net: targets: where the dump is staged before it is sent (in memory in the crash kernel)") \
	X(seal_to,        STR,  "",             0, 255, NULL, "seal the dump and dmesg.txt to this public key file (salvage keygen's .pub; empty: plain)") \
	X(net_wait,       SECS, "30",           1, 600, NULL, "net: targets: seconds for the link and the address; also bounds each send's retries with timeout") \
	X(modules,        STR,  "",             0, 2047, NULL, "kernel modules to load first, comma separated (dependencies from modules.dep)") \
	X(archive,        STR,  "",             0, 511, NULL, "host side: the archive's index (an SQLite file or postgresql:// URL) the next boot adds each announced dump to (empty: none)") \
	X(hostname,       STR,  "",             0, 64, NULL, "host name for the dump directory (empty: the crashed kernel's)") \
	X(threads,        UINT, "0",            0, 256, NULL, "compression threads (0: online CPUs; fewer when memory is short)") \
	X(memory,         SIZE, "0",            0, CFG_MEMORY_MAX, NULL, "working memory budget (0: a third of available memory, at most 64M; at least 8M; at most what is available)") \
	X(progress,       SECS, "10",           0, 3600, NULL, "seconds between progress lines (0: none)") \
	X(vmcore,         STR,  "/proc/vmcore", 0, 255, NULL, "the crashed kernel's memory image") \
	X(shell,          STR,  "/bin/sh",      0, 255, NULL, "shell run by the shell action") \
	X(kver,           STR,  "",             0, 64, NULL, "kernel release the modules were taken for (informational)") \
	X(fail_after,     SIZE, "0",            0, CFG_T * 1024 * 1024, NULL, "test hook: fail dump writes with ENOSPC after this many bytes")

#define CFG_FIELD_STR(key, max)  char key[(max) + 1];
#define CFG_FIELD_TARGET(key, max) char key[(max) + 1];
#define CFG_FIELD_INT(key, max)  int64_t key;
#define CFG_FIELD_UINT(key, max) uint64_t key;
#define CFG_FIELD_SECS(key, max) uint64_t key;
#define CFG_FIELD_SIZE(key, max) uint64_t key;
#define CFG_FIELD_ENUM(key, max) unsigned key;   /* index into the choices */
#define CFG_FIELD_IDLIST(key, max) char key[CFG_IDLIST_LEN + 1];

/* The configuration, one field per key. */
struct cfg {
#define X(key, type, def, min, max, choices, help) CFG_FIELD_##type(key, max)
	CFG_KEYS(X)
#undef X
};

/* The schema of one key, for documentation and generic code. */
struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;
	int64_t min, max;          /* STR: max is the longest value in bytes */
	const char *choices;       /* ENUM: the words, space separated */
	const char *help;
	size_t offset;             /* of the field in struct cfg */
};

/* The keys in CFG_KEYS order, and their count. */
const struct cfg_key *cfg_keys(size_t *n);
/* The key named name, or NULL. */
const struct cfg_key *cfg_key(const char *name);

/* Every key to its default. */
void cfg_defaults(struct cfg *c);
/* Set one key from its text.  -ENOENT (unknown key) or -EINVAL (a value the
 * schema refuses) with the reason in why; c is then unchanged: a bad value
 * leaves the previous one. */
int cfg_set(struct cfg *c, const char *key, const char *value, char *why, size_t whylen);
/* The same check without storing: what cfg_set would answer. */
int cfg_check(const char *key, const char *value, char *why, size_t whylen);

/* Called for each line or word refused, with where it was ("line 3") and the
 * reason. */
typedef void cfg_error_fn(void *ctx, const char *where, const char *why);

/* Apply the KEY=VALUE lines of a configuration file's text (len bytes, need
 * not be NUL-terminated): blank lines and '#' comments are skipped, a value
 * may be quoted with ' or " (as in shell, one pair, no escapes), spaces
 * around KEY and VALUE are dropped.  A line longer than CFG_LINE_MAX is
 * skipped whole (an error unless it is a comment).  Each refused line is
 * passed to err (may be NULL) and counted; returns the count. */
int cfg_parse_text(struct cfg *c, const char *text, size_t len, cfg_error_fn *err, void *ctx);
/* Apply the salvage.KEY=VALUE words of a kernel command line (double quotes
 * group words and are dropped, as the kernel does).  Returns the count of
 * refused words. */
int cfg_parse_cmdline(struct cfg *c, const char *cmdline, cfg_error_fn *err, void *ctx);
/* The value of a key as text that cfg_set reads back to the same value. */
void cfg_value(const struct cfg *c, const struct cfg_key *k, char *out, size_t outlen);
/* The word of an enumeration's value (choices of key), or "?". */
const char *cfg_enum_word(const char *key, unsigned value, char *out, size_t outlen);
/* Where dumps go: target=disk:SPEC[:DIR] or target=dir:PATH. */
#define CFG_TARGET_SUBDIR "/var/crash"   /* DIR when disk: names none */
#define CFG_TARGET_DEVICE_MAX 127        /* a /dev/... SPEC */
struct cfg_target {
	bool is_dir;               /* dir:PATH, nothing to mount */
	bool is_net;               /* net:ADDR:PORT; spec holds ADDR:PORT */
	char spec[256];            /* disk: UUID=..., LABEL=... or /dev/... */
	char dir[512];             /* dir: PATH; disk: DIR inside the file system */
};
/* Parse a target: 0, or -EINVAL with why ("target 'x': expected
 * disk:SPEC[:DIR] or dir:PATH").  Paths must be absolute, without "..".
 * net:ADDR:PORT takes a numeric IPv4 address or [IPv6]. */
int cfg_target_parse(const char *text, struct cfg_target *t, char *why, size_t whylen);
/* The i-th entry of a comma-separated target list into out: 0, or -ENOENT
 * past the last one, -E2BIG when it does not fit. */
int cfg_target_entry(const char *list, size_t i, char *out, size_t outlen);

/* Print every key as KEY=VALUE, one a line, in CFG_KEYS order. */
void cfg_print(const struct cfg *c, FILE *f);
/* Print the keys' documentation: name, help, range and default. */
void cfg_print_help(FILE *f);

/* A cfg_error_fn printing "error: WHERE: WHY" to the FILE * in ctx. */
void cfg_print_error(void *ctx, const char *where, const char *why);

/* Write a value as it must appear in the file so that cfg_parse_text reads
 * it back unchanged (quoted when it has leading or trailing spaces or
 * quotes).  -EINVAL when no line can carry it (a control character). */
int cfg_quote(const char *value, char *out, size_t outlen);

#endif
