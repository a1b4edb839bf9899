/* notes.c - ELF note parsing, tolerant of the quirks real producers emit, and the
 * facts derived from notes: CPU registers, VMCOREINFO, Xen crash info.
 *
 * Every quirk we tolerate is reported as a warning (docs/formats.md §2.2, §4.3, §4.6).
 */
#include "internal.h"
#include "../xen-notes/xnote.h"

#include <stdlib.h>

#define NT_PRSTATUS 1
#define NOTE_NAME_MAX 32

struct note_tmp {
	struct vmc_note n;
	char name[NOTE_NAME_MAX];
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Does a note header plausibly start at off (or does the area end there)? */
static bool header_plausible(const uint8_t *buf, size_t len, uint64_t off)
{
	if (off == len)
		return true;
	if (off > len || len - off < 12)
		return off <= len && all_zero(buf + off, (size_t)(len - off));
	uint32_t namesz = le_get32(buf + off), descsz = le_get32(buf + off + 4);
	if (namesz == 0 && descsz == 0)
		return true;
	if (namesz > 64)
		return false;
	if (12 + (uint64_t)namesz + descsz > len - off)
		return false;
	for (uint32_t i = 0; i < namesz; i++) {
		uint8_t c = buf[off + 12 + i];
		if (c == 0 && i + 1 == namesz)
			break;
		if (c < 0x20 || c > 0x7e)
			return false;
	}
	return true;
}

static bool is_text_note(const char *name, uint32_t type)
{
	return type == 0 && (strcmp(name, "VMCOREINFO") == 0 ||
			     strcmp(name, "VMCOREINFO_XEN") == 0);
}

static int add_note(vmc_dump *d, struct note_tmp **arr, size_t *cap,
		    const struct note_tmp *t)
{
	if (d->nnotes == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct note_tmp *na = realloc(*arr, nc * sizeof(*na));
		if (!na)
			return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		*arr = na;
		*cap = nc;
	}
	(*arr)[d->nnotes++] = *t;
	return VMC_OK;
}

/* Parse one note area [start, start+len) of d->note_bytes. */
static int parse_area(vmc_dump *d, struct note_tmp **arr, size_t *cap, size_t start,
		      size_t len, uint64_t base_off, uint64_t *align)
{
	const uint8_t *buf = d->note_bytes + start;
	uint64_t off = 0;

	while (off < len) {
		uint64_t rem = len - off;
		if (rem < 12) {
			if (!all_zero(buf + off, (size_t)rem))
				return vmc_set_err(d, VMC_ERR_CORRUPT,
						   "note area at 0x%llx: %llu stray bytes after the last note",
						   (unsigned long long)(base_off + off),
						   (unsigned long long)rem);
			vmc_warn(d, "note area at 0x%llx: %llu bytes of padding after the notes",
				 (unsigned long long)base_off, (unsigned long long)rem);
			break;
		}
		uint32_t namesz = le_get32(buf + off), descsz = le_get32(buf + off + 4);
		uint32_t type = le_get32(buf + off + 8);
		if (namesz == 0 && descsz == 0 && type == 0) {
			if (all_zero(buf + off, (size_t)rem)) {
				vmc_warn(d, "note area at 0x%llx: %llu bytes of zero padding after the notes",
					 (unsigned long long)base_off, (unsigned long long)rem);
				break;
			}
			vmc_warn(d, "empty note (all sizes zero) skipped");
			off += 12;
			continue;
		}
		/* Choose the alignment whose next header makes sense (4 normally,
		 * 8 for some producers that follow the ELF64 letter of gABI). */
		uint64_t a = *align, other = a == 4 ? 8 : 4;
		uint64_t desc_off = align_up(12 + (uint64_t)namesz, a);
		uint64_t next = align_up(desc_off + descsz, a);
		if (!header_plausible(buf, (size_t)len, off + next)) {
			uint64_t d2 = align_up(12 + (uint64_t)namesz, other);
			uint64_t n2 = align_up(d2 + descsz, other);
			if (header_plausible(buf, (size_t)len, off + n2)) {
				vmc_warn(d, "notes aligned to %llu bytes, not %llu",
					 (unsigned long long)other, (unsigned long long)a);
				*align = a = other;
				desc_off = d2;
				next = n2;
			}
		}
		if (desc_off + descsz > rem)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "note %zu at 0x%llx: namesz %u descsz %u beyond end of note area (%llu bytes left)",
					   d->nnotes, (unsigned long long)(base_off + off),
					   namesz, descsz, (unsigned long long)rem);
		if (next > rem) {
			vmc_warn(d, "note %zu at 0x%llx: last note lacks its alignment padding",
				 d->nnotes, (unsigned long long)(base_off + off));
			next = rem;
		}

		struct note_tmp t;
		memset(&t, 0, sizeof(t));
		const uint8_t *name = buf + off + 12;
		size_t nl = 0;
		while (nl < namesz && name[nl])
			nl++;
		if (namesz == 0)
			vmc_warn(d, "note %zu at 0x%llx: empty name",
				 d->nnotes, (unsigned long long)(base_off + off));
		else if (nl == namesz)
			vmc_warn(d, "note %zu at 0x%llx: name \"%.*s\" lacks its NUL terminator",
				 d->nnotes, (unsigned long long)(base_off + off),
				 (int)(nl < 40 ? nl : 40), (const char *)name);
		if (nl >= NOTE_NAME_MAX) {
			vmc_warn(d, "note %zu: name longer than %d bytes truncated",
				 d->nnotes, NOTE_NAME_MAX - 1);
			nl = NOTE_NAME_MAX - 1;
		}
		memcpy(t.name, name, nl);
		t.n.type = type;
		t.n.desc = buf + off + desc_off;
		t.n.descsz = descsz;
		t.n.descsz_declared = descsz;
		t.n.offset = base_off + off;
		if (is_text_note(t.name, type)) {
			const uint8_t *z = memchr(t.n.desc, 0, descsz);
			if (z) {
				size_t tl = (size_t)(z - t.n.desc);
				if (all_zero(z, descsz - tl))
					vmc_warn(d, "note %s: descsz %u but text is %zu bytes; NUL padding ignored",
						 t.name, descsz, tl);
				else
					vmc_warn(d, "note %s: NUL inside text at byte %zu; the rest ignored",
						 t.name, tl);
				t.n.descsz = (uint32_t)tl;
			}
		}
		int rc = add_note(d, arr, cap, &t);
		if (rc < 0)
			return rc;
		off += next;
	}
	return VMC_OK;
}

/* d->note_bytes holds the concatenated note areas; area i starts at starts[i]
 * with length lens[i] and file offset offs[i]. */
int vmc_notes_parse_areas(vmc_dump *d, const size_t *starts, const size_t *lens,
			  const uint64_t *offs, size_t nareas, uint64_t align_hint)
{
	struct note_tmp *arr = NULL;
	size_t cap = 0;
	uint64_t align = align_hint == 8 ? 8 : 4;
	int rc = VMC_OK;

	for (size_t i = 0; i < nareas && rc >= 0; i++)
		rc = parse_area(d, &arr, &cap, starts[i], lens[i], offs[i], &align);
	if (rc >= 0 && align == 8 && d->nnotes)
		vmc_warn(d, "notes aligned to 8 bytes, not 4");
	if (rc >= 0 && d->nnotes) {
		d->notes = calloc(d->nnotes, sizeof(*d->notes));
		d->note_names = calloc(d->nnotes, NOTE_NAME_MAX);
		if (!d->notes || !d->note_names) {
			rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < d->nnotes; i++) {
				char *nm = d->note_names + i * NOTE_NAME_MAX;
				memcpy(nm, arr[i].name, NOTE_NAME_MAX);
				d->notes[i] = arr[i].n;
				d->notes[i].name = nm;
			}
		}
	}
	free(arr);
	if (rc < 0)
		d->nnotes = 0;
	return rc;
}

/* Where each architecture's elf_prstatus keeps the registers we decode
 * (docs/formats.md §2.3): pr_reg starts at 112 in every 64-bit layout and at
 * 72 in the 32-bit ones; idx_* are register slots of width `width`, -1 when
 * the architecture has no such register. */
struct prstatus_layout {
	uint16_t machine;
	uint8_t width;          /* bytes per register */
	uint16_t reg_off, nregs, size;
	int idx_pc, idx_sp, idx_lr;
	const char *pc, *sp, *lr;
};

static const struct prstatus_layout prstatus_layouts[] = {
	{ EM_X86_64, 8, 112, 27, 336, 16, 19, -1, "rip", "rsp", NULL },
	{ EM_AARCH64, 8, 112, 34, 392, 32, 31, 30, "pc", "sp", "lr" },
	{ EM_RISCV, 8, 112, 32, 376, 0, 2, 1, "pc", "sp", "ra" },
	{ EM_PPC64, 8, 112, 48, 504, 32, 1, 36, "nip", "r1", "lr" },
	{ EM_386, 4, 72, 17, 144, 12, 15, -1, "eip", "esp", NULL },
	{ EM_ARM, 4, 72, 18, 148, 15, 13, 14, "pc", "sp", "lr" },
};

static const struct prstatus_layout *prstatus_layout(uint16_t machine)
{
	for (size_t i = 0; i < sizeof(prstatus_layouts) / sizeof(prstatus_layouts[0]); i++)
		if (prstatus_layouts[i].machine == machine)
			return &prstatus_layouts[i];
	return NULL;
}

const char *vmc_cpu_reg_name(const vmc_dump *d, int reg)
{
	const struct prstatus_layout *l = prstatus_layout(d->machine);

	if (!l)
		return NULL;
	return reg == VMC_CPU_PC ? l->pc : reg == VMC_CPU_SP ? l->sp :
	       reg == VMC_CPU_LR ? l->lr : NULL;
}

static uint64_t reg_get(const struct prstatus_layout *l, const uint8_t *desc, int idx)
{
	const uint8_t *p = desc + l->reg_off + (size_t)idx * l->width;
	return l->width == 8 ? le_get64(p) : le_get32(p);
}

static void decode_prstatus(vmc_dump *d, const struct prstatus_layout *l,
			    const struct vmc_note *nt, struct vmc_cpu *c, size_t n)
{
	uint32_t need = l->reg_off + (uint32_t)l->nregs * l->width;

	if (nt->descsz < need) {
		vmc_warn(d, "CORE note of cpu %zu: %u bytes, too short for %s registers (%u)",
			 n, nt->descsz, vmc_arch(d), need);
		c->empty = true;
		return;
	}
	if (nt->descsz != l->size)
		vmc_warn(d, "CORE note of cpu %zu: %u bytes, expected %u",
			 n, nt->descsz, l->size);
	c->pid = le_get32(nt->desc + (l->width == 8 ? 32 : 24));
	c->decoded = true;
	c->empty = all_zero(nt->desc + l->reg_off, (size_t)l->nregs * l->width);
	if (l->machine == EM_X86_64)
		for (int r = 0; r < VMC_NREGS; r++)
			c->regs[r] = le_get64(nt->desc + l->reg_off + 8 * r);
	c->pc = reg_get(l, nt->desc, l->idx_pc);
	c->sp = reg_get(l, nt->desc, l->idx_sp);
	c->has_lr = l->idx_lr >= 0;
	if (c->has_lr)
		c->lr = reg_get(l, nt->desc, l->idx_lr);
}

/* (Re)build d->cpus from the notes for d->machine; a kdump reader calls it
 * again when it learns the machine only after the notes. */
int vmc_notes_decode_cpus(vmc_dump *d)
{
	const struct prstatus_layout *l = prstatus_layout(d->machine);
	size_t n = 0;

	free(d->cpus);
	d->cpus = NULL;
	d->ncpus = 0;
	for (size_t i = 0; i < d->nnotes; i++)
		if (d->notes[i].type == NT_PRSTATUS && strcmp(d->notes[i].name, "CORE") == 0)
			n++;
	if (!n)
		return VMC_OK;
	d->cpus = calloc(n, sizeof(*d->cpus));
	if (!d->cpus)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < d->nnotes; i++) {
		const struct vmc_note *nt = &d->notes[i];
		if (nt->type == NT_PRSTATUS && strcmp(nt->name, "CORE") == 0) {
			struct vmc_cpu *c = &d->cpus[d->ncpus++];
			if (l) {
				decode_prstatus(d, l, nt, c, d->ncpus - 1);
			} else {
				/* registers of a machine we cannot decode: the CPU
				 * counts, its state is unknown, never guessed */
				c->empty = all_zero(nt->desc, nt->descsz);
			}
		} else if (nt->type == XNOTE_TYPE_CRASH_REGS &&
			   strcmp(nt->name, XNOTE_NAME) == 0 && d->ncpus) {
			uint64_t cr[4];
			if (xnote_parse_crash_regs(nt->desc, nt->descsz, cr) < 0) {
				vmc_warn(d, "Xen CRASH_REGS note of cpu %zu: %u bytes, too short",
					 d->ncpus - 1, nt->descsz);
				continue;
			}
			struct vmc_cpu *c = &d->cpus[d->ncpus - 1];
			c->has_cr = true;
			c->cr0 = cr[0];
			c->cr2 = cr[1];
			c->cr3 = cr[2];
			c->cr4 = cr[3];
		}
	}
	if (!l && d->machine)
		vmc_warn(d, "CORE notes of machine %u: registers not decoded", d->machine);
	return VMC_OK;
}

static int derive_text(vmc_dump *d, struct vmc_kv_store *s, const char *name)
{
	const struct vmc_note *found = NULL;

	for (size_t i = 0; i < d->nnotes; i++) {
		const struct vmc_note *nt = &d->notes[i];
		if (nt->type != 0 || strcmp(nt->name, name) != 0)
			continue;
		if (found) {
			vmc_warn(d, "duplicate %s note ignored", name);
			continue;
		}
		found = nt;
	}
	if (!found)
		return VMC_OK;
	return vmc_kv_parse(d, s, (const char *)found->desc, found->descsz, name);
}

static int derive_xen(vmc_dump *d)
{
	/* a PV guest's dump (its P2M runs): the CRASH_INFO is for crash(8),
	 * the dump is no Xen host's (docs/formats.md §4.9) */
	for (size_t i = 0; i < d->nnotes; i++)
		if (strcmp(d->notes[i].name, "SALVAGE_P2M") == 0)
			return VMC_OK;
	for (size_t i = 0; i < d->nnotes; i++) {
		const struct vmc_note *nt = &d->notes[i];
		struct xnote_crash_info ci;

		if (nt->type != XNOTE_TYPE_CRASH_INFO || strcmp(nt->name, XNOTE_NAME) != 0)
			continue;
		if (d->has_xen) {
			vmc_warn(d, "duplicate Xen CRASH_INFO note ignored");
			continue;
		}
		if (xnote_parse_crash_info(nt->desc, nt->descsz, &ci) < 0) {
			vmc_warn(d, "Xen CRASH_INFO note: %u bytes, too short (at least %d)",
				 nt->descsz, XNOTE_CRASH_INFO_MIN);
			continue;
		}
		if (ci.layout != XNOTE_LAYOUT_CURRENT)
			vmc_warn(d, "Xen CRASH_INFO note: %u-byte layout (%s)", nt->descsz,
				 xnote_layout_name(ci.layout));
		d->has_xen = true;
		d->xen_ci = ci;
		/* the public view of the same note */
		d->xen = (struct vmc_xen){
			.major = ci.major, .minor = ci.minor, .tainted = ci.tainted,
			.extra_version_addr = ci.extra_version, .changeset_addr = ci.changeset,
			.compiler_addr = ci.compiler, .compile_date_addr = ci.compile_date,
			.compile_time_addr = ci.compile_time,
			.has_phys_start = ci.has_phys_start, .phys_start = ci.phys_start,
			.has_p2m = ci.has_p2m, .p2m_mfn = ci.p2m_mfn,
			.layout_size = nt->descsz,
		};
	}
	if (d->has_xen)
		d->xen.pcpus = d->ncpus;
	return VMC_OK;
}

void vmc_notes_free(vmc_dump *d)
{
	free(d->note_bytes);
	free(d->notes);
	free(d->note_names);
	free(d->cpus);
}

int vmc_notes_finish(vmc_dump *d)
{
	int rc = vmc_notes_decode_cpus(d);
	if (rc < 0)
		return rc;
	rc = derive_text(d, &d->vmci, "VMCOREINFO");
	if (rc < 0)
		return rc;
	rc = derive_text(d, &d->xen_vmci, "VMCOREINFO_XEN");
	if (rc < 0)
		return rc;
	rc = derive_xen(d);
	if (rc < 0)
		return rc;
	if (d->has_xen) {
		d->producer = "xen";
	} else {
		for (size_t i = 0; i < d->nnotes; i++)
			if (strcmp(d->notes[i].name, "QEMU") == 0)
				d->producer = "qemu";
	}
	if (!d->producer)
		d->producer = "linux";
	return VMC_OK;
}

/* Read the Xen version strings CRASH_INFO points at (machine addresses). */
void vmc_xen_read_strings(vmc_dump *d)
{
	char buf[sizeof(d->xen.extra_version)];

	if (!d->has_xen || !d->xen.extra_version_addr)
		return;
	for (size_t i = 0; i < sizeof(buf) - 1; i++) {
		if (vmc_read_phys(d, d->xen.extra_version_addr + i, &buf[i], 1) != VMC_OK) {
			vmc_warn(d, "Xen extra version string at 0x%llx is not in the dump",
				 (unsigned long long)d->xen.extra_version_addr);
			d->errmsg[0] = 0;
			return;
		}
		if (!buf[i]) {
			memcpy(d->xen.extra_version, buf, i + 1);
			return;
		}
	}
	vmc_warn(d, "Xen extra version string at 0x%llx is not terminated",
		 (unsigned long long)d->xen.extra_version_addr);
}

size_t vmc_note_count(const vmc_dump *d) { return d->nnotes; }

const struct vmc_note *vmc_note(const vmc_dump *d, size_t i)
{
	return i < d->nnotes ? &d->notes[i] : NULL;
}

const uint8_t *vmc_note_bytes(const vmc_dump *d, size_t *len)
{
	*len = d->note_len;
	return d->note_bytes;
}

size_t vmc_cpu_count(const vmc_dump *d) { return d->ncpus; }

const struct vmc_cpu *vmc_cpu(const vmc_dump *d, size_t i)
{
	return i < d->ncpus ? &d->cpus[i] : NULL;
}

int vmc_panic_cpu(const vmc_dump *d)
{
	int found = -1;

	for (size_t i = 0; i < d->ncpus; i++) {
		if (d->cpus[i].empty)
			continue;
		if (found >= 0)
			return -1;
		found = (int)i;
	}
	return found;
}

const struct vmc_xen *vmc_xen(const vmc_dump *d)
{
	return d->has_xen ? &d->xen : NULL;
}
