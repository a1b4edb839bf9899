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

#endif
