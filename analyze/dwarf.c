/* dwarf.c - a vmlinux with debug information (--vmlinux FILE): its .symtab
 * through libelf, checked against the dump (GNU build-id note against
 * VMCOREINFO BUILD-ID, else the linux_banner text) and relocated by
 * KERNELOFFSET; struct layouts, file:line and inlined functions through
 * libdwarf (Debian's 20210528 API). */
#include "kern.h"

#include <libdwarf/dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libdwarf/libdwarf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STRUCTS 16

struct az_vmlinux {
	int fd;
	Elf *elf;
	Dwarf_Debug dbg;
	bool dwarf_ok;
	uint64_t kaslr;
	/* struct DIEs found so far (the few the analyzer reads) */
	struct {
		char name[48];
		Dwarf_Off off;
	} st[MAX_STRUCTS];
	int nst;
	bool scanned;
	Dwarf_Arange *aranges;
	Dwarf_Signed naranges;
	/* a module's file: its sections all start at 0, so the subprogram
	 * holding pc is told by name too (az_modfile_where) */
	const char *want_func;
	size_t want_len;
};

/* ---- ELF: symbols and identity ---------------------------------------- */

static Elf_Scn *find_section(Elf *e, const char *want, GElf_Shdr *sh)
{
	size_t shstr;
	Elf_Scn *scn = NULL;
	if (elf_getshdrstrndx(e, &shstr) != 0)
		return NULL;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, sh))
			continue;
		const char *n = elf_strptr(e, shstr, sh->sh_name);
		if (n && !strcmp(n, want))
			return scn;
	}
	return NULL;
}

static bool build_id(Elf *e, char *hex, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	/* vmlinux keeps it in .notes; any SHT_NOTE section will do */
	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *data;
		size_t off = 0, noff, doff;
		GElf_Nhdr nh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE ||
		    !(data = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(data, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((char *)data->d_buf + noff, "GNU", 4) && nh.n_descsz * 2 < len) {
				const uint8_t *b = (const uint8_t *)data->d_buf + doff;
				for (size_t i = 0; i < nh.n_descsz; i++)
					snprintf(hex + 2 * i, 3, "%02x", b[i]);
				return true;
			}
		}
	}
	return false;
}

/* Bytes of the vmlinux at virtual address va (unrelocated). */
static bool file_bytes(Elf *e, uint64_t va, void *buf, size_t n)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_ALLOC))
			continue;
		if (va >= sh.sh_addr && va + n <= sh.sh_addr + sh.sh_size) {
			Elf_Data *d = elf_rawdata(scn, NULL);
			if (!d || !d->d_buf || va - sh.sh_addr + n > d->d_size)
				return false;
			memcpy(buf, (char *)d->d_buf + (va - sh.sh_addr), n);
			return true;
		}
	}
	return false;
}

static int load_symtab(Elf *e, uint64_t kaslr, struct az_syms *s)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(e, ".symtab", &sh);
	Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
	if (!data || !sh.sh_entsize)
		return -1;
	size_t n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym y;
		GElf_Shdr ssh;
		if (!gelf_getsym(data, (int)i, &y))
			continue;
		int t = GELF_ST_TYPE(y.st_info);
		if (t == STT_SECTION || t == STT_FILE || !y.st_name)
			continue;
		const char *name = elf_strptr(e, sh.sh_link, y.st_name);
		if (!name || !*name)
			continue;
		char type = 'd';
		if (y.st_shndx == SHN_ABS) {
			type = 'a';
		} else {
			Elf_Scn *ys = elf_getscn(e, y.st_shndx);
			if (ys && gelf_getshdr(ys, &ssh) && (ssh.sh_flags & SHF_EXECINSTR))
				type = 't';
		}
		if (GELF_ST_BIND(y.st_info) != STB_LOCAL)
			type = (char)(type - 'a' + 'A');
		uint64_t a = y.st_value;
		/* KASLR moves the kernel image, not the per-cpu offsets */
		if (a >= 0xffffffff80000000ull && type != 'a' && type != 'A')
			a += kaslr;
		if (az_syms_add(s, name, a, type) < 0)
			return -1;
	}
	return az_syms_finish(s);
}

static int check_match(vmc_dump *d, struct az_vmlinux *v, const char *path,
		       const struct az_syms *s, char *err, size_t errlen)
{
	char file_id[128];
	const char *dump_id = vmc_vmcoreinfo_get(d, "BUILD-ID");
	uint64_t banner;

	if (dump_id && build_id(v->elf, file_id, sizeof(file_id))) {
		if (strncasecmp(dump_id, file_id, strlen(file_id)) != 0 || strlen(dump_id) < 8) {
			snprintf(err, errlen, "%s does not match the dump: its build-id is %s, the "
				 "dump's VMCOREINFO BUILD-ID is %s", path, file_id, dump_id);
			return -1;
		}
		return 0;
	}
	/* no build id on one side: compare the linux_banner text */
	if (az_syms_addr(s, "linux_banner", &banner) == 0) {
		char a[256] = "", b[256] = "";
		if (file_bytes(v->elf, banner - v->kaslr, a, sizeof(a) - 1) &&
		    vmc_read_virt(d, banner, b, sizeof(b) - 1) == VMC_OK) {
			if (strcmp(a, b) != 0) {
				snprintf(err, errlen, "%s does not match the dump: linux_banner differs "
					 "(\"%.60s\" vs \"%.60s\")", path, a, b);
				return -1;
			}
			return 0;
		}
	}
	snprintf(err, errlen, "%s: cannot tell whether it matches the dump (no build-id and "
		 "no readable linux_banner)", path);
	return -1;
}

/* libdwarf aborts on an error reported to no one: errors are results here */
static void quiet_errors(Dwarf_Error e, Dwarf_Ptr arg)
{
	(void)e;
	(void)arg;
}

/* A new handle on the ELF file path (libelf over a read-only mapping),
 * its header in *eh; NULL with err set.  The caller checks the kind. */
static struct az_vmlinux *elf_file_open(const char *path, GElf_Ehdr *eh, char *err,
					size_t errlen)
{
	struct az_vmlinux *v = calloc(1, sizeof(*v));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (v->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(v);
		return NULL;
	}
	elf_version(EV_CURRENT);
	v->elf = elf_begin(v->fd, ELF_C_READ_MMAP, NULL);
	if (!v->elf || elf_kind(v->elf) != ELF_K_ELF || !gelf_getehdr(v->elf, eh))
		memset(eh, 0, sizeof(*eh));
	return v;
}

int az_vmlinux_open(vmc_dump *d, const char *path, struct az_vmlinux **out,
		    struct az_syms *syms, char *err, size_t errlen)
{
	GElf_Ehdr eh;
	struct az_vmlinux *v;
	Dwarf_Error de = NULL;

	memset(syms, 0, sizeof(*syms));
	v = elf_file_open(path, &eh, err, errlen);
	if (!v)
		return -1;
	if (eh.e_machine != EM_X86_64) {
		snprintf(err, errlen, "%s: not an x86_64 ELF kernel image", path);
		goto fail;
	}
	if (vmc_vmci_kerneloffset(d, &v->kaslr) != VMC_OK)
		v->kaslr = 0;
	if (load_symtab(v->elf, v->kaslr, syms) < 0 || syms->n == 0) {
		snprintf(err, errlen, "%s: no symbol table (.symtab)", path);
		goto fail;
	}
	syms->source = "vmlinux";
	if (check_match(d, v, path, syms, err, errlen) < 0)
		goto fail;
	if (dwarf_init_b(v->fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, quiet_errors, NULL, &v->dbg, &de) ==
	    DW_DLV_OK)
		v->dwarf_ok = true;
	*out = v;
	return 0;
fail:
	az_syms_free(syms);
	az_vmlinux_close(v);
	return -1;
}

void az_vmlinux_close(struct az_vmlinux *v)
{
	if (!v)
		return;
	if (v->dwarf_ok) {
		if (v->aranges) {
			for (Dwarf_Signed i = 0; i < v->naranges; i++)
				dwarf_dealloc(v->dbg, v->aranges[i], DW_DLA_ARANGE);
			dwarf_dealloc(v->dbg, v->aranges, DW_DLA_LIST);
		}
		dwarf_finish(v->dbg, NULL);
	}
	if (v->elf)
		elf_end(v->elf);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

/* ---- a module's file (--mod-dir) ------------------------------------------ */

int az_modfile_open(const char *path, const uint8_t *id, int idlen, struct az_vmlinux **out,
		    char *err, size_t errlen)
{
	GElf_Ehdr eh;
	struct az_vmlinux *v;
	Dwarf_Error de = NULL;
	char want[48] = "", got[48] = "";

	v = elf_file_open(path, &eh, err, errlen);
	if (!v)
		return -1;
	if (eh.e_machine != EM_X86_64 || eh.e_type != ET_REL) {
		snprintf(err, errlen, "%s: not an x86_64 kernel module (ET_REL)", path);
		goto fail;
	}
	for (int i = 0; i < idlen && i < 20; i++)
		snprintf(want + 2 * i, 3, "%02x", id[i]);
	if (!idlen) {
		snprintf(err, errlen, "%s: the dump records no build id for this module: "
			 "cannot tell whether the file matches", path);
		goto fail;
	}
	if (!build_id(v->elf, got, sizeof(got)) || strcmp(got, want)) {
		snprintf(err, errlen, "%s does not match the dump: its build-id is %s, the loaded "
			 "module's is %s", path, got[0] ? got : "absent", want);
		goto fail;
	}
	if (dwarf_init_b(v->fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, quiet_errors, NULL, &v->dbg, &de) !=
	    DW_DLV_OK) {
		snprintf(err, errlen, "%s: no DWARF debug information", path);
		goto fail;
	}
	v->dwarf_ok = true;
	*out = v;
	return 0;
fail:
	az_vmlinux_close(v);
	return -1;
}

int az_modfile_symval(struct az_vmlinux *v, const char *name, uint64_t *value)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(v->elf, ".symtab", &sh);
	Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;

	if (!data || !sh.sh_entsize)
		return -1;
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym y;
		const char *n;
		if (!gelf_getsym(data, (int)i, &y) || GELF_ST_TYPE(y.st_info) != STT_FUNC ||
		    !(n = elf_strptr(v->elf, sh.sh_link, y.st_name)) || strcmp(n, name))
			continue;
		*value = y.st_value;
		return 0;
	}
	return -1;
}

/* ---- DWARF: struct layouts --------------------------------------------- */

static const char *const wanted[] = {
#define AZ_F_ST(id, st, m) st,
	AZ_FIELDS(AZ_F_ST)
#undef AZ_F_ST
};

static bool is_wanted(const char *n)
{
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!strcmp(wanted[i], n))
			return true;
	return false;
}

static bool has_attr(Dwarf_Die die, Dwarf_Half a)
{
	Dwarf_Bool b = 0;
	return dwarf_hasattr(die, a, &b, NULL) == DW_DLV_OK && b;
}

/* One pass over the compile units' top-level DIEs, remembering the first
 * complete definition of each struct the analyzer reads. */
static void scan_structs(struct az_vmlinux *v)
{
	Dwarf_Unsigned next;
	Dwarf_Half ver;
	size_t distinct = 0;

	v->scanned = true;
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		size_t j = 0;
		while (j < i && strcmp(wanted[j], wanted[i]))
			j++;
		distinct += j == i;
	}
	while (dwarf_next_cu_header_d(v->dbg, 1, NULL, &ver, NULL, NULL, NULL, NULL, NULL, NULL,
				      &next, NULL, NULL) == DW_DLV_OK) {
		Dwarf_Die cu = NULL, c = NULL, sib;
		if (dwarf_siblingof_b(v->dbg, NULL, 1, &cu, NULL) != DW_DLV_OK)
			continue;
		if ((size_t)v->nst < distinct && dwarf_child(cu, &c, NULL) == DW_DLV_OK) {
			for (;;) {
				Dwarf_Half tag;
				char *name;
				if (dwarf_tag(c, &tag, NULL) == DW_DLV_OK && tag == DW_TAG_structure_type &&
				    dwarf_diename(c, &name, NULL) == DW_DLV_OK && is_wanted(name) &&
				    !has_attr(c, DW_AT_declaration) && v->nst < MAX_STRUCTS) {
					bool dup = false;
					for (int k = 0; k < v->nst; k++)
						dup |= !strcmp(v->st[k].name, name);
					if (!dup) {
						snprintf(v->st[v->nst].name, sizeof(v->st[0].name), "%s", name);
						dwarf_dieoffset(c, &v->st[v->nst].off, NULL);
						v->nst++;
					}
				}
				int rc = dwarf_siblingof_b(v->dbg, c, 1, &sib, NULL);
				dwarf_dealloc(v->dbg, c, DW_DLA_DIE);
				if (rc != DW_DLV_OK)
					break;
				c = sib;
			}
		}
		dwarf_dealloc(v->dbg, cu, DW_DLA_DIE);
	}
}

/* Follow DW_AT_type through typedefs and qualifiers to a struct/union. */
static bool type_die(struct az_vmlinux *v, Dwarf_Die die, Dwarf_Die *out, bool composite_only)
{
	Dwarf_Attribute at;
	Dwarf_Off off;
	Dwarf_Die t = NULL;
	for (int depth = 0; depth < 16; depth++) {
		if (dwarf_attr(die, DW_AT_type, &at, NULL) != DW_DLV_OK)
			return false;
		int rc = dwarf_global_formref(at, &off, NULL);
		dwarf_dealloc(v->dbg, at, DW_DLA_ATTR);
		if (rc != DW_DLV_OK || dwarf_offdie_b(v->dbg, off, 1, &t, NULL) != DW_DLV_OK)
			return false;
		Dwarf_Half tag = 0;
		dwarf_tag(t, &tag, NULL);
		if (!composite_only || tag == DW_TAG_structure_type || tag == DW_TAG_union_type) {
			*out = t;
			return true;
		}
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type)
			return false;
		die = t;
	}
	return false;
}

static bool udata(Dwarf_Die die, Dwarf_Half a, Dwarf_Unsigned *v)
{
	Dwarf_Attribute at;
	if (dwarf_attr(die, a, &at, NULL) != DW_DLV_OK)
		return false;
	bool ok = dwarf_formudata(at, v, NULL) == DW_DLV_OK;
	return ok;
}

static Dwarf_Unsigned type_size(struct az_vmlinux *v, Dwarf_Die member)
{
	Dwarf_Die t;
	Dwarf_Unsigned sz = 0;
	Dwarf_Half tag = 0;
	Dwarf_Die cur = member;
	for (int depth = 0; depth < 16 && type_die(v, cur, &t, false); depth++) {
		if (udata(t, DW_AT_byte_size, &sz))
			return sz;
		dwarf_tag(t, &tag, NULL);
		if (tag == DW_TAG_pointer_type)
			return 8;
		cur = t;
	}
	return 0;
}

/* Find member name in struct die (searching anonymous members). */
static bool find_member(struct az_vmlinux *v, Dwarf_Die st, const char *name, uint64_t *off,
			Dwarf_Die *found)
{
	Dwarf_Die c, sib;
	if (dwarf_child(st, &c, NULL) != DW_DLV_OK)
		return false;
	for (;;) {
		Dwarf_Half tag = 0;
		char *mn = NULL;
		Dwarf_Unsigned loc = 0;
		dwarf_tag(c, &tag, NULL);
		if (tag == DW_TAG_member) {
			udata(c, DW_AT_data_member_location, &loc);
			if (dwarf_diename(c, &mn, NULL) == DW_DLV_OK) {
				if (!strcmp(mn, name)) {
					*off += loc;
					*found = c;
					return true;
				}
			} else {
				Dwarf_Die sub;
				uint64_t o = *off + loc;
				if (type_die(v, c, &sub, true) && find_member(v, sub, name, &o, found)) {
					*off = o;
					return true;
				}
			}
		}
		if (dwarf_siblingof_b(v->dbg, c, 1, &sib, NULL) != DW_DLV_OK)
			return false;
		c = sib;
	}
}

static bool struct_die(struct az_vmlinux *v, const char *stype, Dwarf_Die *out)
{
	if (!v->dwarf_ok)
		return false;
	if (!v->scanned)
		scan_structs(v);
	for (int i = 0; i < v->nst; i++)
		if (!strcmp(v->st[i].name, stype))
			return dwarf_offdie_b(v->dbg, v->st[i].off, 1, out, NULL) == DW_DLV_OK;
	return false;
}

int az_dwarf_member(void *ctx, const char *stype, const char *path, uint64_t *off,
		    uint64_t *size)
{
	struct az_vmlinux *v = ctx;
	Dwarf_Die st, m = NULL;
	uint64_t o = 0;
	char part[128];

	if (!struct_die(v, stype, &st))
		return -1;
	while (*path) {
		path = az_path_next(path, part, sizeof(part));
		if (!path || !find_member(v, st, part, &o, &m))
			return -1;
		if (*path && !type_die(v, m, &st, true))
			return -1;
	}
	*off = o;
	*size = m ? type_size(v, m) : 0;
	return 0;
}

int az_dwarf_sizeof(void *ctx, const char *stype, uint64_t *size)
{
	struct az_vmlinux *v = ctx;
	Dwarf_Die st;
	Dwarf_Unsigned sz;
	if (!struct_die(v, stype, &st) || !udata(st, DW_AT_byte_size, &sz))
		return -1;
	*size = sz;
	return 0;
}

/* ---- DWARF: source positions and inlined functions -------------------- */

struct pcq {
	struct az_vmlinux *v;
	uint64_t pc;             /* unrelocated */
	uint64_t cu_base;
	Dwarf_Half ver;
};

static bool ranges_have(struct pcq *q, Dwarf_Die die, Dwarf_Attribute at)
{
	Dwarf_Half form = 0;
	Dwarf_Unsigned val = 0;
	bool hit = false;

	if (dwarf_whatform(at, &form, NULL) != DW_DLV_OK)
		return false;
	if (dwarf_formudata(at, &val, NULL) != DW_DLV_OK) {
		Dwarf_Off o;
		if (dwarf_global_formref(at, &o, NULL) != DW_DLV_OK)
			return false;
		val = o;
	}
	if (q->ver >= 5) {
		Dwarf_Rnglists_Head head;
		Dwarf_Unsigned n = 0, goff;
		if (dwarf_rnglists_get_rle_head(at, form, val, &head, &n, &goff, NULL) != DW_DLV_OK)
			return false;
		for (Dwarf_Unsigned i = 0; i < n && !hit; i++) {
			unsigned len, code;
			Dwarf_Unsigned r1, r2, lo, hi;
			Dwarf_Bool unavail = 0;
			if (dwarf_get_rnglists_entry_fields_a(head, i, &len, &code, &r1, &r2, &unavail,
							      &lo, &hi, NULL) != DW_DLV_OK)
				break;
			if (code == DW_RLE_end_of_list || code == DW_RLE_base_address ||
			    code == DW_RLE_base_addressx || unavail)
				continue;
			hit = q->pc >= lo && q->pc < hi;
		}
		dwarf_dealloc_rnglists_head(head);
		return hit;
	}
	Dwarf_Ranges *r;
	Dwarf_Signed n;
	Dwarf_Unsigned bytes;
	Dwarf_Off real;
	uint64_t base = q->cu_base;
	if (dwarf_get_ranges_b(q->v->dbg, val, die, &real, &r, &n, &bytes, NULL) != DW_DLV_OK)
		return false;
	for (Dwarf_Signed i = 0; i < n && !hit; i++) {
		if (r[i].dwr_type == DW_RANGES_ADDRESS_SELECTION)
			base = r[i].dwr_addr2;
		else if (r[i].dwr_type == DW_RANGES_ENTRY)
			hit = q->pc >= base + r[i].dwr_addr1 && q->pc < base + r[i].dwr_addr2;
	}
	dwarf_ranges_dealloc(q->v->dbg, r, n);
	return hit;
}

static bool die_has_pc(struct pcq *q, Dwarf_Die die)
{
	Dwarf_Addr lo, hi;
	Dwarf_Half form;
	enum Dwarf_Form_Class cls;
	Dwarf_Attribute at;

	if (dwarf_lowpc(die, &lo, NULL) == DW_DLV_OK &&
	    dwarf_highpc_b(die, &hi, &form, &cls, NULL) == DW_DLV_OK) {
		if (cls == DW_FORM_CLASS_CONSTANT)
			hi += lo;
		return q->pc >= lo && q->pc < hi;
	}
	if (dwarf_attr(die, DW_AT_ranges, &at, NULL) == DW_DLV_OK) {
		bool r = ranges_have(q, die, at);
		dwarf_dealloc(q->v->dbg, at, DW_DLA_ATTR);
		return r;
	}
	return false;
}

/* The name of an inlined subroutine: its abstract origin's name. */
static void origin_name(struct az_vmlinux *v, Dwarf_Die die, char *buf, size_t len)
{
	Dwarf_Attribute at;
	Dwarf_Off off;
	Dwarf_Die o;
	char *n;
	snprintf(buf, len, "?");
	for (int i = 0; i < 4; i++) {
		if (dwarf_diename(die, &n, NULL) == DW_DLV_OK) {
			snprintf(buf, len, "%s", n);
			return;
		}
		if (dwarf_attr(die, DW_AT_abstract_origin, &at, NULL) != DW_DLV_OK &&
		    dwarf_attr(die, DW_AT_specification, &at, NULL) != DW_DLV_OK)
			return;
		int rc = dwarf_global_formref(at, &off, NULL);
		dwarf_dealloc(v->dbg, at, DW_DLA_ATTR);
		if (rc != DW_DLV_OK || dwarf_offdie_b(v->dbg, off, 1, &o, NULL) != DW_DLV_OK)
			return;
		die = o;
	}
}

#define MAX_INLINE 8
struct inl {
	char name[128];
	Dwarf_Unsigned call_file, call_line;
};

/* Descend from die into the children holding pc, collecting inlined
 * subroutines outermost first. */
/* The first child of die with tag t1 or t2 whose ranges hold pc (its tag
 * in *tag), or NULL. */
static Dwarf_Die child_at(struct pcq *q, Dwarf_Die die, Dwarf_Half t1, Dwarf_Half t2,
			  Dwarf_Half *tag)
{
	Dwarf_Die c, sib;
	if (dwarf_child(die, &c, NULL) != DW_DLV_OK)
		return NULL;
	for (;;) {
		*tag = 0;
		dwarf_tag(c, tag, NULL);
		if ((*tag == t1 || *tag == t2) && die_has_pc(q, c))
			return c;
		if (dwarf_siblingof_b(q->v->dbg, c, 1, &sib, NULL) != DW_DLV_OK)
			return NULL;
		c = sib;
	}
}

static int collect_inlined(struct pcq *q, Dwarf_Die die, struct inl *out, int n)
{
	Dwarf_Half tag;
	Dwarf_Die c = child_at(q, die, DW_TAG_inlined_subroutine, DW_TAG_lexical_block, &tag);
	if (!c)
		return n;
	if (tag == DW_TAG_inlined_subroutine && n < MAX_INLINE) {
		origin_name(q->v, c, out[n].name, sizeof(out[n].name));
		out[n].call_file = out[n].call_line = 0;
		udata(c, DW_AT_call_file, &out[n].call_file);
		udata(c, DW_AT_call_line, &out[n].call_line);
		n++;
	}
	return collect_inlined(q, c, out, n);
}

static Dwarf_Die subprogram_at(struct pcq *q, Dwarf_Die cu)
{
	Dwarf_Half tag;
	Dwarf_Die c, sib;
	char name[128];

	if (!q->v->want_func)
		return child_at(q, cu, DW_TAG_subprogram, DW_TAG_subprogram, &tag);
	if (dwarf_child(cu, &c, NULL) != DW_DLV_OK)
		return NULL;
	for (;;) {
		tag = 0;
		dwarf_tag(c, &tag, NULL);
		if (tag == DW_TAG_subprogram && die_has_pc(q, c)) {
			origin_name(q->v, c, name, sizeof(name));
			if (strlen(name) == q->v->want_len &&
			    !strncmp(name, q->v->want_func, q->v->want_len))
				return c;
		}
		if (dwarf_siblingof_b(q->v->dbg, c, 1, &sib, NULL) != DW_DLV_OK)
			return NULL;
		c = sib;
	}
}

/* "kernel/panic.c" from "/build/.../linux-6.1.192/kernel/panic.c" */
static const char *short_path(const char *p)
{
	/* Debian builds out of tree in debian/build/build_FLAVOUR/ */
	const char *l = strstr(p, "debian/build/build_");
	if (l && (l = strchr(l + 19, '/')))
		return l + 1;
	l = strstr(p, "/linux-");
	if (l && (l = strchr(l + 1, '/')))
		return l + 1;
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	return p;
}

int az_dwarf_where(struct az_vmlinux *v, uint64_t addr, struct az_srcpos *out, int max)
{
	struct pcq q = { v, addr - v->kaslr, 0, 0 };
	Dwarf_Arange ar;
	Dwarf_Off cu_off;
	Dwarf_Die cu;
	Dwarf_Line_Context ctx = NULL;
	Dwarf_Line *lines;
	Dwarf_Signed nlines;
	Dwarf_Unsigned lver;
	Dwarf_Small tables;
	char **files = NULL;
	Dwarf_Signed nfiles = 0;
	struct inl inl[MAX_INLINE];
	int n = 0, ninl = 0;
	char *src = NULL;
	Dwarf_Unsigned line = 0;

	if (!v || !v->dwarf_ok || max <= 0)
		return 0;
	if (!v->aranges && dwarf_get_aranges(v->dbg, &v->aranges, &v->naranges, NULL) != DW_DLV_OK)
		return 0;
	if (dwarf_get_arange(v->aranges, (Dwarf_Unsigned)v->naranges, q.pc, &ar, NULL) != DW_DLV_OK ||
	    dwarf_get_cu_die_offset(ar, &cu_off, NULL) != DW_DLV_OK ||
	    dwarf_offdie_b(v->dbg, cu_off, 1, &cu, NULL) != DW_DLV_OK)
		return 0;
	Dwarf_Addr base;
	if (dwarf_lowpc(cu, &base, NULL) == DW_DLV_OK)
		q.cu_base = base;
	Dwarf_Half ver = 4, osz;
	if (dwarf_get_version_of_die(cu, &ver, &osz) == DW_DLV_OK)
		q.ver = ver;
	if (dwarf_srclines_b(cu, &lver, &tables, &ctx, NULL) == DW_DLV_OK) {
		if (dwarf_srclines_from_linecontext(ctx, &lines, &nlines, NULL) == DW_DLV_OK) {
			for (Dwarf_Signed i = 0; i + 1 < nlines; i++) {
				Dwarf_Addr a0, a1;
				Dwarf_Bool end = 0;
				dwarf_lineendsequence(lines[i], &end, NULL);
				if (end || dwarf_lineaddr(lines[i], &a0, NULL) != DW_DLV_OK ||
				    dwarf_lineaddr(lines[i + 1], &a1, NULL) != DW_DLV_OK)
					continue;
				/* the first row that covers pc: a module's
				 * sections all start at 0 in its file, and
				 * .text's rows come first */
				if (a0 <= q.pc && q.pc < a1 && !src) {
					dwarf_lineno(lines[i], &line, NULL);
					dwarf_linesrc(lines[i], &src, NULL);
				}
			}
		}
	}
	dwarf_srcfiles(cu, &files, &nfiles, NULL);
	Dwarf_Die sp = subprogram_at(&q, cu);
	if (sp)
		ninl = collect_inlined(&q, sp, inl, 0);
	/* innermost first: the line table's position is inside the innermost
	 * inlined function; each call site is a position in its caller */
	const char *pfile = src ? src : "?";
	Dwarf_Unsigned pline = line;
	for (int i = ninl - 1; i >= 0 && n < max; i--) {
		snprintf(out[n].func, sizeof(out[n].func), "%s", inl[i].name);
		snprintf(out[n].file, sizeof(out[n].file), "%s", short_path(pfile));
		out[n].line = (unsigned)pline;
		n++;
		Dwarf_Signed fi = (Dwarf_Signed)inl[i].call_file - (q.ver >= 5 ? 0 : 1);
		pfile = fi >= 0 && fi < nfiles ? files[fi] : "?";
		pline = inl[i].call_line;
	}
	if (n < max && (src || ninl)) {
		out[n].func[0] = 0;
		snprintf(out[n].file, sizeof(out[n].file), "%s", short_path(pfile));
		out[n].line = (unsigned)pline;
		n++;
	}
	if (ctx)
		dwarf_srclines_dealloc_b(ctx);
	return n;
}

int az_modfile_where(struct az_vmlinux *v, const char *func, uint64_t addr,
		     struct az_srcpos *out, int max)
{
	/* a clone (.constprop.0, .isra.0, .cold) keeps its source's name */
	v->want_func = func;
	v->want_len = strcspn(func, ".");
	int n = az_dwarf_where(v, addr, out, max);
	v->want_func = NULL;
	return n;
}
