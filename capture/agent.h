/* agent.h - salvage-capture as the crash kernel's init.
 *
 * capture/main.c calls cap_agent_main() when the program runs as PID 1 or is
 * given --init.  The agent mounts /proc, /sys and /dev, reads its
 * configuration (/etc/salvage.conf, then salvage.KEY=VALUE words of
 * /proc/cmdline), loads the kernel modules its target needs, mounts the
 * target, runs cap_run() into DIR/<hostname>-<UTC time>/ and ends with the
 * configured final action.  A watchdog bounds the whole run.
 *
 * The configuration format is an interface between `salvage mkinitramfs`
 * (which writes it) and the agent (which reads it); the keys are listed once,
 * in CAP_AGENT_KEYS, so both sides and the documentation agree.
 */
#ifndef SALVAGE_CAPTURE_AGENT_H
#define SALVAGE_CAPTURE_AGENT_H

/* The configuration file baked into the initramfs. */
#define CAP_AGENT_CONFIG "/etc/salvage.conf"

/* X(key, kind, default, help).  Kinds: str, int, uint, size (K/M/G/T
 * suffixes), level (0-31), codec, format, action, secs. */
#define CAP_AGENT_KEYS(X) \
	X(target,         str,    "",            "disk:SPEC[:DIR] (SPEC: UUID=, LABEL= or /dev/...; DIR default /var/crash) or dir:PATH") \
	X(fstype,         str,    "",            "force the target's file system type (empty: read from its superblock)") \
	X(format,         format, "kdump",       "dump format: kdump or elf") \
	X(level,          level,  "31",          "dump level 0-31 (makedumpfile's -d bits)") \
	X(xen_domu,       uint,   "0",           "Xen dumps: 1 excludes domU pages (makedumpfile's -X), 0 keeps them") \
	X(codec,          codec,  "zstd",        "zstd, zlib, lzo, snappy or none") \
	X(codec_level,    int,    "0",           "compression level for zstd (0: library default)") \
	X(action,         action, "reboot",      "after a capture: reboot, poweroff, shell or exit") \
	X(failure_action, action, "reboot",      "after a failure: reboot, poweroff, shell or exit") \
	X(keep,           uint,   "0",           "keep at most this many dumps in DIR, the new one included (0: all)") \
	X(minfree,        size,   "0",           "delete the oldest dumps until DIR's file system has this much free") \
	X(timeout,        secs,   "3600",        "watchdog: the whole run is bounded by this many seconds") \
	X(wait,           secs,   "60",          "seconds to wait for the target device") \
	X(modules,        str,    "",            "kernel modules to load first, comma separated (dependencies from modules.dep)") \
	X(hostname,       str,    "",            "host name for the dump directory (empty: the crashed kernel's)") \
	X(threads,        uint,   "0",           "compression threads (0: online CPUs)") \
	X(memory,         size,   "0",           "working memory budget (0: a third of available memory, at most 64M)") \
	X(progress,       secs,   "10",          "seconds between progress lines (0: none)") \
	X(vmcore,         str,    "/proc/vmcore", "the crashed kernel's memory image") \
	X(shell,          str,    "/bin/sh",     "shell run by the shell action") \
	X(kver,           str,    "",            "kernel release the modules were taken for (informational)") \
	X(fail_after,     size,   "0",           "test hook: fail dump writes with ENOSPC after this many bytes")

/* Entry point of the agent; argv are the program's arguments.  As PID 1 it
 * never returns (the final action reboots, powers off or execs the shell);
 * otherwise it returns an exit status (enum cap_status) when the action is
 * "exit".  Options: --init, --config FILE, --cmdline FILE (instead of
 * /proc/cmdline), --set KEY=VALUE, --probe DEVICE (print the file system type,
 * UUID and label of a device or image, then exit), --help. */
int cap_agent_main(int argc, char **argv);

#endif
