/* main.c - the salvage command: dispatch to subcommands. */
#include "salvage.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "info", az_cmd_info, "summarise a dump: format, kernel, CPUs, memory, Xen" },
	{ "dmesg", az_cmd_dmesg, "the kernel log, as makedumpfile --dump-dmesg prints it" },
	{ "bt", az_cmd_bt, "backtraces of the CPUs' active tasks (or of PID); ORC from the dump" },
	{ "ps", az_cmd_ps, "the task list (PID, PPID, CPU, state, command), running tasks marked" },
	{ "sys", az_cmd_sys, "crash-like summary: release, uptime, load, memory, panic string" },
	{ "mod", az_cmd_mod, "loaded modules (name, base, size, state, taint, build id) without debuginfo" },
	{ "triage", az_cmd_triage, "one screen: what crashed, where, when, which kernel, last log lines, CPUs" },
	{ "sym", az_cmd_sym, "kernel symbols from the dump's kallsyms (or --vmlinux): list, look up" },
	{ "mkinitramfs", az_cmd_mkinitramfs, "build the crash kernel's initramfs around the capture agent" },
	{ "arm", az_cmd_arm, "load the crash kernel and initramfs (kexec on panic); --status, --unload" },
	{ "archive", az_cmd_archive, "index many dumps: add, list, search, groups by signature, gc" },
	{ "keygen", az_cmd_keygen, "a key pair for an agent or a receiver of dumps over the network" },
	{ "receive", az_cmd_receive, "receive dumps from agents over the network (authenticated, encrypted)" },
	{ "unseal", az_cmd_unseal, "decrypt a sealed dump or log (salvage-capture --seal-to) with its key" },
	{ "xen", az_cmd_xen, "Xen dumps: info, log (console ring), domains, frames, p2m, bt" },
	{ "status", az_cmd_status, "is a crash captured? reservation, crash kernel, initramfs, target space" },
	{ "setup", az_cmd_setup, "--crashkernel: the reservation to use; --apply: a grub drop-in" },
	{ "config", az_cmd_config, "check or show the service's configuration (/etc/salvage/salvage.conf)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: salvage COMMAND [OPTIONS] DUMP\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nDUMP is an ELF vmcore (/proc/vmcore copy, QEMU dump-guest-memory),\n"
		   "a kdump-compressed file (makedumpfile, QEMU), or a makedumpfile flattened\n"
		   "stream (-F) of either; a sealed one (salvage-capture --seal-to) with\n"
		   "--key FILE.  'salvage COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return AZ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "salvage: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return AZ_EXIT_USAGE;
}
