/* notes.c - ELF note parsing, tolerant of the quirks real producers emit, and the
 * facts derived from notes: CPU registers, VMCOREINFO, Xen crash info.
 *
 * Every quirk we tolerate is reported as a warning (docs/formats.md §2.2, §4.3, §4.6).
 */
#include "internal.h"
#include "../xen-notes/xnote.h"

#include <stdlib.h>

#define NT_PRSTATUS 1
#define PRSTATUS_REG_OFF 112
#define PRSTATUS_SIZE 336
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

static int derive_cpus(vmc_dump *d)
{
	size_t n = 0;

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
			if (nt->descsz < PRSTATUS_REG_OFF + 8 * VMC_NREGS) {
				vmc_warn(d, "CORE note of cpu %zu: %u bytes, too short for x86_64 registers",
					 d->ncpus - 1, nt->descsz);
				c->empty = true;
				continue;
			}
			if (nt->descsz != PRSTATUS_SIZE)
				vmc_warn(d, "CORE note of cpu %zu: %u bytes, expected %d",
					 d->ncpus - 1, nt->descsz, PRSTATUS_SIZE);
			c->pid = le_get32(nt->desc + 32);
			c->empty = true;
			for (int r = 0; r < VMC_NREGS; r++) {
				c->regs[r] = le_get64(nt->desc + PRSTATUS_REG_OFF + 8 * r);
				if (c->regs[r])
					c->empty = false;
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
	int rc = derive_cpus(d);
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
