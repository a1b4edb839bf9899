/* mod.c - `salvage mod [--json] [--vmlinux F] DUMP`: the modules the
 * crashed kernel had loaded, read without their debug info (modules.c). */
#include "salvage.h"

#include <inttypes.h>
#include <string.h>

static const char mod_usage[] =
	"usage: salvage mod [--json] [--vmlinux FILE] [--dom0] DUMP\n\n"
	"Lists the loaded modules (the kernel's `modules` list, struct module's\n"
	"layout from the dump's BTF or the DWARF of --vmlinux FILE): name, base\n"
	"and size of its memory, state (live, coming, going, unformed), taint\n"
	"letters (O out of tree, E unsigned, P proprietary, ...), the number of\n"
	"its own kallsyms symbols and ORC entries (what sym and bt use for its\n"
	"addresses) and its GNU build id where the dump records it.\n"
	"  --json   an object {modules: [{name, module, base, size, text_size,\n"
	"           state, taint, symbols, orc_entries, build_id, warning}],\n"
	"           warning}\n"
	"  --dom0   Xen host dumps: dom0's modules\n";

static const char *state_name(int s)
{
	static const char *const names[] = { "live", "coming", "going", "unformed" };
	return s >= 0 && s < 4 ? names[s] : "unknown";
}

static const char *hex_id(const struct az_module *m, char *buf, size_t len)
{
	size_t o = 0;
	for (int i = 0; i < m->build_id_len && o + 3 <= len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", m->build_id[i]);
	if (len)
		buf[o < len ? o : len - 1] = 0;
	return m->build_id_len ? buf : NULL;
}

static int mod_run(struct az_run *r)
{
	struct az_kernel *k = &r->k;
	const struct az_modules *ms = &k->mods;
	char taint[32], id[48], esc[256];

	if (az_modules_load(k) < 0 && !ms->n) {
		snprintf(k->err, sizeof(k->err), "no module list: %s", ms->why);
		return -1;
	}
	if (r->a.json) {
		struct az_json j;
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "source", k->lay.source);
		az_json_kstr(&j, "warning", ms->why[0] ? ms->why : NULL);
		az_json_key(&j, "modules");
		az_json_begin_array(&j);
		for (size_t i = 0; i < ms->n; i++) {
			const struct az_module *m = &ms->v[i];
			az_json_begin_object(&j);
			az_json_kstr(&j, "name", m->name);
			az_json_khex(&j, "module", m->addr);
			az_json_khex(&j, "base", m->base);
			az_json_ku64(&j, "size", m->size);
			az_json_ku64(&j, "text_size", m->text_size);
			az_json_kstr(&j, "state", state_name(m->state));
			az_json_kstr(&j, "taint", az_taint_letters(m->taints, taint, sizeof(taint)));
			az_json_ku64(&j, "symbols", m->syms.n);
			az_json_ku64(&j, "orc_entries", m->orc.n);
			az_json_kstr(&j, "build_id", hex_id(m, id, sizeof(id)));
			az_json_kstr(&j, "warning", m->warn[0] ? m->warn : NULL);
			az_json_end_object(&j);
		}
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
		return AZ_EXIT_OK;
	}
	printf("%-24s %-16s %8s %-8s %-5s %5s %5s  %s\n", "NAME", "BASE", "SIZE", "STATE", "TAINT",
	       "SYMS", "ORC", "BUILD-ID");
	for (size_t i = 0; i < ms->n; i++) {
		const struct az_module *m = &ms->v[i];
		const char *bid = hex_id(m, id, sizeof(id));
		printf("%-24s %016" PRIx64 " %8" PRIu64 " %-8s %-5s %5zu %5zu  %s\n",
		       az_tesc(esc, sizeof(esc), m->name), m->base, m->size, state_name(m->state),
		       az_taint_letters(m->taints, taint, sizeof(taint)), m->syms.n, m->orc.n,
		       bid ? bid : "-");
		if (m->warn[0])
			fprintf(stderr, "salvage mod: %s: %s: %s\n", r->a.pos[0], esc,
				az_tesc(esc, sizeof(esc), m->warn));
	}
	if (ms->why[0])
		fprintf(stderr, "salvage mod: %s: warning: %s\n", r->a.pos[0], ms->why);
	return AZ_EXIT_OK;
}

static const struct az_cmd mod_cmd = { "mod", mod_usage, AZ_OPT_VMLINUX | AZ_OPT_DOM0, 1, 1,
				       AZ_NEED_TYPES | AZ_NEED_ORC, mod_run };

int az_cmd_mod(int argc, char **argv)
{
	return az_run_cmd(argc, argv, &mod_cmd);
}
