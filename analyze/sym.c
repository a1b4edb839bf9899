/* sym.c - `salvage sym [--json] [--vmlinux F] DUMP [NAME|0xADDR ...]`: the
 * kernel's symbols (kallsyms decoded from the dump, or the vmlinux's),
 * looked up by name or address, or all of them. */
#include "salvage.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static const char sym_usage[] =
	"usage: salvage sym [--json] [--vmlinux FILE] [--dom0] DUMP [NAME|0xADDR ...]\n\n"
	"Without NAME or ADDR: every symbol as 'ADDRESS TYPE NAME' (like\n"
	"/proc/kallsyms, modules' own symbols last with '\\t[module]'), from the\n"
	"dump's own kallsyms (no debug package needed)\n"
	"or from --vmlinux FILE (relocated by the dump's KASLR offset).  With\n"
	"arguments: the address of each NAME, the function+offset/size of each\n"
	"0xADDR; in a module (its own kallsyms in the dump) with ' [module]', as\n"
	"crash prints it.\n"
	"  --dom0   Xen host dumps: dom0's kernel symbols\n"
	"  --json   an array of {name, address, type} (lookups: {query, name,\n"
	"           module, address, offset, size}, null when not found)\n";

static int sym_run(struct az_run *r)
{
	const struct az_args *a = &r->a;
	struct az_kernel *k = &r->k;
	struct az_json j;
	int ret = AZ_EXIT_OK;

	az_json_init(&j, stdout);
	if (a->json)
		az_json_begin_array(&j);
	if (a->npos == 1) {
		for (size_t i = 0; i < k->syms.n; i++) {
			const struct az_sym *y = &k->syms.v[i];
			char t[2] = { y->type, 0 };
			if (!a->json) {
				printf("%016" PRIx64 " %c ", y->addr, y->type);
				az_tput(stdout, az_sym_name(&k->syms, y), strlen(az_sym_name(&k->syms, y)), false);
				putchar('\n');
				continue;
			}
			az_json_begin_object(&j);
			az_json_kstr(&j, "name", az_sym_name(&k->syms, y));
			az_json_khex(&j, "address", y->addr);
			az_json_kstr(&j, "type", t);
			az_json_end_object(&j);
		}
		/* then each module's own, as /proc/kallsyms lists them */
		if (az_modules_load(k) == 0)
			for (size_t m = 0; m < k->mods.n; m++) {
				const struct az_module *md = &k->mods.v[m];
				for (size_t i = 0; i < md->syms.n; i++) {
					const struct az_sym *y = &md->syms.v[i];
					const char *nm = az_sym_name(&md->syms, y);
					char t[2] = { y->type, 0 };
					if (!a->json) {
						printf("%016" PRIx64 " %c ", y->addr, y->type);
						az_tput(stdout, nm, strlen(nm), false);
						printf("\t[");
						az_tput(stdout, md->name, strlen(md->name), false);
						printf("]\n");
						continue;
					}
					az_json_begin_object(&j);
					az_json_kstr(&j, "name", nm);
					az_json_khex(&j, "address", y->addr);
					az_json_kstr(&j, "type", t);
					az_json_kstr(&j, "module", md->name);
					az_json_end_object(&j);
				}
			}
	}
	for (int i = 1; i < a->npos; i++) {
		const char *q = a->pos[i];
		uint64_t addr = 0, off = 0, size = 0;
		const struct az_sym *y = NULL;
		const struct az_module *mod = NULL;
		const struct az_syms *tab = &k->syms;
		bool found;
		if (!strncmp(q, "0x", 2)) {
			char *end;
			struct az_where w;
			addr = strtoull(q, &end, 16);
			found = !*end && az_lookup(k, addr, &w);
			if (found) {
				y = w.sym;
				tab = w.tab;
				off = w.off;
				size = w.size;
				mod = w.mod;
			}
		} else {
			found = az_syms_addr(&k->syms, q, &addr) == 0;
			/* else a module's own symbol */
			if (!found && az_modules_load(k) == 0)
				for (size_t m = 0; m < k->mods.n && !found; m++)
					if (az_syms_addr(&k->mods.v[m].syms, q, &addr) == 0) {
						found = true;
						mod = &k->mods.v[m];
					}
		}
		if (!found)
			ret = AZ_EXIT_FAIL;
		if (!a->json) {
			char buf[256], esc[1024];
			if (!found)
				fprintf(stderr, "salvage sym: %s: no symbol %s\n", a->pos[0], q);
			else if (y) {
				az_symbolize(k, addr, buf, sizeof(buf));
				printf("%s: %s\n", q, az_tesc(esc, sizeof(esc), buf));
			} else
				printf("%s: %016" PRIx64 "%s%s%s\n", q, addr, mod ? " [" : "",
				       mod ? az_tesc(esc, sizeof(esc), mod->name) : "", mod ? "]" : "");
			continue;
		}
		az_json_begin_object(&j);
		az_json_kstr(&j, "query", q);
		az_json_kstr(&j, "name", !found ? NULL : y ? az_sym_name(tab, y) : q);
		az_json_kstr(&j, "module", mod ? mod->name : NULL);
		az_json_khex_if(&j, "address", found, y ? y->addr : addr);
		az_json_ku64(&j, "offset", off);
		az_json_ku64(&j, "size", size);
		az_json_end_object(&j);
	}
	if (a->json) {
		az_json_end_array(&j);
		az_json_finish(&j);
	}
	return ret;
}

static const struct az_cmd sym_cmd = { "sym", sym_usage, AZ_OPT_VMLINUX | AZ_OPT_DOM0, 1, -1, AZ_NEED_SYMS, sym_run };

int az_cmd_sym(int argc, char **argv)
{
	return az_run_cmd(argc, argv, &sym_cmd);
}
