/* core-hdr.c - the header of an ELF64 core as salvage's writers lay it out
 * (formats.md §2.1): capture's ELF output, `salvage xen extract` and the
 * dom0 view all go through here, so the ELF header, the PT_NOTE, the
 * PT_LOADs and PN_XNUM are encoded in one place.  Pure: bytes in, bytes
 * out, no dump involved.
 */
#include "internal.h"

#define EHDR 64
#define PHDR 56
#define SHDR 64

uint64_t vmc_core_hdr_len(uint64_t nload)
{
	/* the PT_NOTE, the loads, section header 0 from PN_XNUM on; the
	 * count must fit section header 0's 32-bit sh_info */
	if (nload >= UINT32_MAX)
		return 0;
	uint64_t phnum = nload + 1;
	return EHDR + phnum * PHDR + (phnum >= PN_XNUM ? SHDR : 0);
}

void vmc_core_hdr_put(uint8_t *h, const struct vmc_core_hdr *c)
{
	uint64_t phnum = c->nload + 1, sh_off = EHDR + phnum * PHDR;
	bool xnum = phnum >= PN_XNUM;

	memcpy(h, ELFMAG, SELFMAG);
	h[EI_CLASS] = ELFCLASS64;
	h[EI_DATA] = ELFDATA2LSB;
	h[EI_VERSION] = EV_CURRENT;
	le_put16(h + 16, ET_CORE);
	le_put16(h + 18, c->machine);
	le_put32(h + 20, EV_CURRENT);
	le_put64(h + 32, EHDR);                          /* e_phoff */
	le_put64(h + 40, xnum ? sh_off : 0);             /* e_shoff */
	le_put16(h + 52, EHDR);
	le_put16(h + 54, PHDR);
	le_put16(h + 56, xnum ? PN_XNUM : (uint16_t)phnum);
	le_put16(h + 58, xnum ? SHDR : 0);
	le_put16(h + 60, xnum ? 1 : 0);
	if (xnum)
		le_put32(h + sh_off + 44, (uint32_t)phnum);  /* sh_info of section 0 */
	uint8_t *p = h + EHDR;
	le_put32(p, PT_NOTE);
	le_put64(p + 8, c->note_off);
	le_put64(p + 32, c->note_len);
	le_put64(p + 40, c->note_len);
	le_put64(p + 48, c->note_align);
}

void vmc_core_load_put(uint8_t *h, uint64_t i, const struct vmc_core_load *l)
{
	uint8_t *p = h + EHDR + (i + 1) * PHDR;

	le_put32(p, PT_LOAD);
	le_put32(p + 4, PF_R | PF_W | PF_X);
	le_put64(p + 8, l->offset);
	le_put64(p + 16, l->vaddr);
	le_put64(p + 24, l->paddr);
	le_put64(p + 32, l->filesz);
	le_put64(p + 40, l->memsz);
	le_put64(p + 48, l->align);
}

static size_t pad4(size_t v)
{
	return (v + 3) & ~(size_t)3;
}

size_t vmc_note_size(size_t namesz, size_t descsz)
{
	return 12 + pad4(namesz) + pad4(descsz);
}

uint8_t *vmc_note_put(uint8_t *p, const char *name, uint32_t type, const void *desc,
		      size_t descsz)
{
	size_t namesz = strlen(name) + 1;

	le_put32(p, (uint32_t)namesz);
	le_put32(p + 4, (uint32_t)descsz);
	le_put32(p + 8, type);
	memcpy(p + 12, name, namesz);
	p += 12 + pad4(namesz);
	if (descsz)
		memcpy(p, desc, descsz);
	return p + pad4(descsz);
}
