/* modules.c - the crashed kernel's loaded modules without their debug
 * info: the `modules` list walked with struct module's layout from BTF (or
 * the vmlinux's DWARF), and per module its memory, state, taints, build id
 * (module->build_id, else the GNU build-id note the module's sysfs notes
 * point at), its own kallsyms (mod->kallsyms: symtab, num_symtab, strtab,
 * typetab; Elf64_Sym values are absolute once loaded) and its ORC table
 * (mod->arch: num_orcs, orc_unwind_ip, orc_unwind; sorted by the loader).
 * Layout notes: docs/formats.md §7.1-7.3. */
#include "kern.h"
#include "../common/le.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_MODULES 8192
#define MAX_MOD_SYMS (1u << 20)
#define MAX_MOD_ORCS (1u << 22)
#define MAX_STRTAB (16u << 20)
#define ELF_SYM_SIZE 24
#define MOD_MEM_TYPES 7              /* 6.4+: text data rodata ro_after_init init_text init_data init_rodata */
#define MOD_MEM_INIT_TEXT 4

#define OFF(f) (k->lay.off[AZ_F_##f])

static int rd_field(struct az_kernel *k, uint64_t base, enum az_field f, uint64_t *v)
{
	if (k->lay.off[f] < 0)
		return -1;
	return az_read_uint(k, base + (uint64_t)k->lay.off[f],
			    k->lay.size[f] && k->lay.size[f] <= 8 ? k->lay.size[f] : 8, v);
}

const char *az_taint_letters(uint64_t bits, char *buf, size_t len)
{
	/* kernel/panic.c taint_flags, bit 0 upwards */
	static const char letters[] = "PFSRMBUDAWCIOELKXTN";
	size_t o = 0;

	for (size_t i = 0; i < sizeof(letters) - 1 && o + 1 < len; i++)
		if ((bits >> i) & 1)
			buf[o++] = letters[i];
	if (len)
		buf[o < len ? o : len - 1] = 0;
	return buf;
}

/* The module's kallsyms into m->syms. */
static int load_syms(struct az_kernel *k, struct az_module *m)
{
	uint64_t ks, symtab, num, strtab, typetab = 0;
	uint8_t *tab = NULL;
	char *str = NULL, *types = NULL;
	uint64_t maxname = 0;
	int ret = -1;

	if (rd_field(k, m->addr, AZ_F_MOD_KALLSYMS, &ks) < 0 || !ks ||
	    rd_field(k, ks, AZ_F_KS_SYMTAB, &symtab) < 0 || rd_field(k, ks, AZ_F_KS_NUM, &num) < 0 ||
	    rd_field(k, ks, AZ_F_KS_STRTAB, &strtab) < 0) {
		snprintf(m->warn, sizeof(m->warn), "its kallsyms (module.kallsyms) not readable");
		return -1;
	}
	rd_field(k, ks, AZ_F_KS_TYPETAB, &typetab);
	if (num == 0)
		return 0;
	if (num > MAX_MOD_SYMS) {
		snprintf(m->warn, sizeof(m->warn), "implausible num_symtab %" PRIu64, num);
		return -1;
	}
	tab = malloc((size_t)num * ELF_SYM_SIZE);
	types = calloc(1, (size_t)num);
	if (!tab || !types)
		goto nomem;
	if (az_read(k, symtab, tab, (size_t)num * ELF_SYM_SIZE) < 0) {
		snprintf(m->warn, sizeof(m->warn), "symtab at 0x%" PRIx64 " not readable", symtab);
		goto out;
	}
	if (typetab && az_read(k, typetab, types, (size_t)num) < 0)
		memset(types, 0, (size_t)num);
	for (uint64_t i = 0; i < num; i++) {
		uint32_t nm = le_get32(tab + i * ELF_SYM_SIZE);
		if (nm > maxname)
			maxname = nm;
	}
	size_t slen = (size_t)maxname + 256;
	if (slen > MAX_STRTAB) {
		snprintf(m->warn, sizeof(m->warn), "implausible strtab offset %" PRIu64, maxname);
		goto out;
	}
	str = calloc(1, slen + 1);
	if (!str)
		goto nomem;
	/* the strtab's end may touch an unreadable page: page by page then */
	if (az_read(k, strtab, str, slen) < 0) {
		for (size_t o = 0; o < slen;) {
			size_t n = 4096 - (size_t)((strtab + o) & 4095);
			if (n > slen - o)
				n = slen - o;
			if (az_read(k, strtab + o, str + o, n) < 0)
				memset(str + o, 0, n);
			o += n;
		}
	}
	for (uint64_t i = 1; i < num; i++) {
		const uint8_t *e = tab + i * ELF_SYM_SIZE;
		uint32_t nm = le_get32(e);
		uint16_t shndx = le_get16(e + 6);
		uint64_t val = le_get64(e + 8);
		char type = types[i];
		if (!nm || !str[nm] || shndx == 0 || !val)
			continue;
		if (!type)
			type = (e[4] & 0xf) == 2 ? 't' : 'd';   /* STT_FUNC */
		char name[256];
		size_t l = strnlen(str + nm, sizeof(name) - 1);
		memcpy(name, str + nm, l);
		name[l] = 0;
		if (az_syms_add(&m->syms, name, val, type) < 0)
			goto nomem;
	}
	if (az_syms_finish(&m->syms) < 0)
		goto nomem;
	m->syms.source = "module kallsyms";
	ret = 0;
	goto out;
nomem:
	snprintf(m->warn, sizeof(m->warn), "out of memory");
out:
	free(tab);
	free(str);
	free(types);
	return ret;
}

static void load_orc(struct az_kernel *k, struct az_module *m)
{
	uint64_t n, ip, orc;

	if (rd_field(k, m->addr, AZ_F_MOD_NUM_ORCS, &n) < 0 ||
	    rd_field(k, m->addr, AZ_F_MOD_ORC_IP, &ip) < 0 ||
	    rd_field(k, m->addr, AZ_F_MOD_ORC, &orc) < 0 || n == 0 || !ip || !orc)
		return;
	if (n > MAX_MOD_ORCS) {
		snprintf(m->warn, sizeof(m->warn), "implausible num_orcs %" PRIu64, n);
		return;
	}
	char err[160];
	if (az_orc_read(k->d, ip, orc, (size_t)n, k->orc.layout, &m->orc, err, sizeof(err)) < 0 &&
	    !m->warn[0])
		snprintf(m->warn, sizeof(m->warn), "%s", err);
}

/* A GNU build-id note at va (size bytes): 20-byte descriptor of type 3. */
static bool note_build_id(struct az_kernel *k, uint64_t va, uint64_t size, struct az_module *m)
{
	uint8_t b[64];
	if (size < 16 || size > sizeof(b))
		size = size < 16 ? 0 : sizeof(b);
	if (!size || az_read(k, va, b, (size_t)size) < 0)
		return false;
	uint32_t namesz = le_get32(b), descsz = le_get32(b + 4), type = le_get32(b + 8);
	if (type != 3 || namesz != 4 || memcmp(b + 12, "GNU", 4) || descsz == 0 ||
	    descsz > sizeof(m->build_id) || 16 + descsz > size)
		return false;
	memcpy(m->build_id, b + 16, descsz);
	m->build_id_len = (int)descsz;
	return true;
}

static void load_build_id(struct az_kernel *k, struct az_module *m)
{
	uint64_t na, n;
	uint8_t id[20];

	if (OFF(MOD_BUILD_ID) >= 0 &&
	    az_read(k, m->addr + (uint64_t)OFF(MOD_BUILD_ID), id, sizeof(id)) == 0) {
		for (size_t i = 0; i < sizeof(id); i++)
			if (id[i]) {
				memcpy(m->build_id, id, sizeof(id));
				m->build_id_len = sizeof(id);
				return;
			}
	}
	/* the notes the module's sysfs directory shows: module_notes_attrs */
	if (rd_field(k, m->addr, AZ_F_MOD_NOTES_ATTRS, &na) < 0 || !na ||
	    rd_field(k, na, AZ_F_NOTES_N, &n) < 0 || OFF(NOTES_ATTRS) < 0 ||
	    !k->lay.bin_attribute_size || n > 64)
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = na + (uint64_t)OFF(NOTES_ATTRS) + i * k->lay.bin_attribute_size, p, sz;
		if (rd_field(k, a, AZ_F_BINATTR_PRIVATE, &p) == 0 &&
		    rd_field(k, a, AZ_F_BINATTR_SIZE, &sz) == 0 && note_build_id(k, p, sz, m))
			return;
	}
}

static void load_layout(struct az_kernel *k, struct az_module *m)
{
	uint64_t v;

	if (OFF(MOD_CORE_BASE) >= 0) {     /* up to 6.3 */
		rd_field(k, m->addr, AZ_F_MOD_CORE_BASE, &m->base);
		if (rd_field(k, m->addr, AZ_F_MOD_CORE_SIZE, &v) == 0)
			m->size = v;
		m->text = m->base;
		if (rd_field(k, m->addr, AZ_F_MOD_CORE_TEXT, &v) == 0)
			m->text_size = v;
		if (rd_field(k, m->addr, AZ_F_MOD_INIT_BASE, &m->init_text) == 0 && m->init_text &&
		    rd_field(k, m->addr, AZ_F_MOD_INIT_TEXT, &v) == 0)
			m->init_text_size = v;
		else
			m->init_text = 0;
	} else if (OFF(MOD_MEM) >= 0 && k->lay.module_memory_size && OFF(MODMEM_BASE) >= 0 &&
		   OFF(MODMEM_SIZE) >= 0) {   /* 6.4+: mem[MOD_MEM_NUM_TYPES] */
		uint64_t lo = 0, hi = 0;
		for (int t = 0; t < MOD_MEM_TYPES; t++) {
			uint64_t a = m->addr + (uint64_t)OFF(MOD_MEM) + (uint64_t)t * k->lay.module_memory_size;
			uint64_t b = 0, s = 0;
			if (rd_field(k, a, AZ_F_MODMEM_BASE, &b) < 0 || rd_field(k, a, AZ_F_MODMEM_SIZE, &s) < 0 ||
			    !b || !s)
				continue;
			if (t == 0) {
				m->text = b;
				m->text_size = s;
			} else if (t == MOD_MEM_INIT_TEXT) {
				m->init_text = b;
				m->init_text_size = s;
			}
			if (t < MOD_MEM_INIT_TEXT) {
				if (!lo || b < lo)
					lo = b;
				if (b + s > hi)
					hi = b + s;
			}
		}
		m->base = lo;
		m->size = hi > lo ? hi - lo : 0;
	}
}

int az_modules_load(struct az_kernel *k)
{
	struct az_modules *ms = &k->mods;
	uint64_t head, p;
	size_t cap = 0;

	if (ms->loaded)
		return ms->why[0] ? -1 : 0;
	ms->loaded = true;
	if (!k->have_types || OFF(MOD_LIST) < 0 || OFF(MOD_NAME) < 0) {
		snprintf(ms->why, sizeof(ms->why), "struct module layout unknown (%.200s)",
			 k->have_types ? "no module.list or .name in the types" : k->why_types);
		return -1;
	}
	if (az_sym(k, "modules", &head) < 0) {
		snprintf(ms->why, sizeof(ms->why), "no `modules` symbol (kernel without modules?)");
		return -1;
	}
	if (az_read_u64(k, head, &p) < 0) {
		snprintf(ms->why, sizeof(ms->why), "the module list head at 0x%" PRIx64 " is not readable",
			 head);
		return -1;
	}
	while (p != head) {
		if (ms->n >= MAX_MODULES || !p) {
			snprintf(ms->why, sizeof(ms->why), "the module list does not return to its head");
			break;
		}
		if (ms->n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct az_module *nv = realloc(ms->v, nc * sizeof(*nv));
			if (!nv) {
				snprintf(ms->why, sizeof(ms->why), "out of memory");
				break;
			}
			ms->v = nv;
			cap = nc;
		}
		struct az_module *m = &ms->v[ms->n];
		memset(m, 0, sizeof(*m));
		m->addr = p - (uint64_t)OFF(MOD_LIST);
		uint32_t nl = k->lay.size[AZ_F_MOD_NAME];
		if (!nl || nl >= sizeof(m->name))
			nl = sizeof(m->name) - 1;
		if (az_read(k, m->addr + (uint64_t)OFF(MOD_NAME), m->name, nl) < 0) {
			snprintf(ms->why, sizeof(ms->why), "module at 0x%" PRIx64 " not readable", m->addr);
			break;
		}
		m->name[nl] = 0;
		ms->n++;
		uint64_t v;
		m->state = rd_field(k, m->addr, AZ_F_MOD_STATE, &v) == 0 ? (int)v : -1;
		if (rd_field(k, m->addr, AZ_F_MOD_TAINTS, &v) == 0)
			m->taints = v;
		load_layout(k, m);
		load_syms(k, m);
		if (k->have_orc)
			load_orc(k, m);
		load_build_id(k, m);
		if (az_read_u64(k, p, &p) < 0) {
			snprintf(ms->why, sizeof(ms->why), "module list link at 0x%" PRIx64 " not readable", p);
			break;
		}
	}
	return 0;
}

void az_modules_free(struct az_modules *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		az_vmlinux_close(ms->v[i].file);
		az_syms_free(&ms->v[i].syms);
		az_orc_free(&ms->v[i].orc);
	}
	free(ms->v);
	memset(ms, 0, sizeof(*ms));
}

static bool in(uint64_t a, uint64_t base, uint64_t size)
{
	return base && a >= base && a - base < size;
}

static bool in_text(const struct az_module *m, uint64_t a)
{
	return in(a, m->text, m->text_size) || in(a, m->init_text, m->init_text_size);
}

/* module memory lies outside the kernel image and the direct map: only
 * addresses in the module area (or at least above the image) are tried */
const struct az_module *az_module_at(struct az_kernel *k, uint64_t addr)
{
	if (k->have_syms && k->syms.stext && addr >= k->syms.stext && addr < k->syms.etext)
		return NULL;
	if (!k->mods.loaded)
		az_modules_load(k);
	for (size_t i = 0; i < k->mods.n; i++) {
		const struct az_module *m = &k->mods.v[i];
		if (in(addr, m->base, m->size) || in_text(m, addr))
			return m;
	}
	return NULL;
}

bool az_lookup(struct az_kernel *k, uint64_t addr, struct az_where *w)
{
	memset(w, 0, sizeof(*w));
	const struct az_module *m = az_module_at(k, addr);
	if (m) {
		w->mod = m;
		w->tab = &m->syms;
		w->sym = m->syms.n ? az_syms_find(&m->syms, addr, &w->off, &w->size) : NULL;
		/* as the kernel's module kallsyms: a text symbol ends at the
		 * next symbol or the end of its text, whichever comes first */
		uint64_t end = in(addr, m->init_text, m->init_text_size) ?
			m->init_text + m->init_text_size : m->text + m->text_size;
		if (w->sym && in_text(m, addr) && end > w->sym->addr &&
		    (!w->size || w->size > end - w->sym->addr))
			w->size = end - w->sym->addr;
		return w->sym != NULL;
	}
	if (!k->have_syms)
		return false;
	w->tab = &k->syms;
	w->sym = az_syms_find(&k->syms, addr, &w->off, &w->size);
	return w->sym != NULL;
}

bool az_is_text(struct az_kernel *k, uint64_t addr)
{
	if (k->have_syms && az_syms_is_text(&k->syms, addr))
		return true;
	const struct az_module *m = az_module_at(k, addr);
	return m && in_text(m, addr);
}

bool az_find_orc(struct az_kernel *k, uint64_t ip, struct az_orc_entry *e)
{
	const struct az_module *m = az_module_at(k, ip);
	if (m)
		return m->orc.n && az_orc_find(&m->orc, ip, e);
	return k->have_orc && az_orc_find(&k->orc, ip, e);
}

/* ---- the modules' files (--mod-dir) ------------------------------------------ */

/* name.ko or name.ko.debug, '-' and '_' alike (module names use '_') */
static bool file_is(const char *fname, const char *mod)
{
	size_t i = 0;
	for (; mod[i] && fname[i]; i++) {
		char a = fname[i] == '-' ? '_' : fname[i];
		if (a != mod[i])
			return false;
	}
	return !mod[i] && (!strcmp(fname + i, ".ko") || !strcmp(fname + i, ".ko.debug"));
}

/* depth-first search of dir (at most 8 levels) for the module's file */
static bool find_file(const char *dir, const char *mod, int depth, char *out, size_t len)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!dh)
		return false;
	while (!found && (e = readdir(dh))) {
		char p[4096];
		struct stat st;
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= sizeof(p) ||
		    lstat(p, &st) < 0)
			continue;
		if (S_ISREG(st.st_mode) && file_is(e->d_name, mod)) {
			snprintf(out, len, "%s", p);
			found = true;
		} else if (S_ISDIR(st.st_mode) && depth < 8) {
			found = find_file(p, mod, depth + 1, out, len);
		}
	}
	closedir(dh);
	return found;
}

int az_source_at(struct az_kernel *k, uint64_t addr, struct az_srcpos *out, int max)
{
	const struct az_module *cm = az_module_at(k, addr);
	if (!cm)
		return k->vml ? az_dwarf_where(k->vml, addr, out, max) : 0;
	if (!k->mod_dir)
		return 0;
	struct az_module *m = &k->mods.v[cm - k->mods.v];
	if (!m->file_tried) {
		char path[4096];
		m->file_tried = true;
		if (!find_file(k->mod_dir, m->name, 0, path, sizeof(path)))
			snprintf(m->file_why, sizeof(m->file_why), "no %s.ko or %s.ko.debug under %s",
				 m->name, m->name, k->mod_dir);
		else
			az_modfile_open(path, m->build_id, m->build_id_len, &m->file, m->file_why,
					sizeof(m->file_why));
	}
	struct az_where w;
	uint64_t val;
	if (!m->file || !az_lookup(k, addr, &w) ||
	    az_modfile_symval(m->file, az_sym_name(w.tab, w.sym), &val) < 0)
		return 0;
	return az_modfile_where(m->file, az_sym_name(w.tab, w.sym), val + w.off, out, max);
}
