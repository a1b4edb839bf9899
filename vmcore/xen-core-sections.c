/* xen-core-sections.c - a Xen guest core's section headers and its
 * `.note.Xen` (dump-core header, Xen version and format version notes):
 * docs/formats.md §4.9.  The first stage of vmc_xcore_open (xen-core.c).
 */
#include "internal.h"

#include <stdlib.h>

#include "xen-core.h"

static const char *const sec_names[S_COUNT] = {
	".note.Xen", ".xen_prstatus", ".xen_shared_info", ".xen_pages", ".xen_p2m", ".xen_pfn",
};

int vmc_xcore_read_sections(vmc_dump *d, struct section *s)
{
	uint8_t eh[64], *sh = NULL;
	char *strtab = NULL;
	uint64_t fsize = d->io->size, shoff, end, stroff, strsize;
	uint16_t shnum, shstrndx;
	int rc;

	rc = vmc_io_read_exact(d, eh, sizeof(eh), 0, "ELF header");
	if (rc < 0)
		return rc;
	if (eh[4] != ELFCLASS64 || eh[5] != ELFDATA2LSB)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "Xen dump-core: only 64-bit little-endian files are supported (class %u, data %u)",
				   eh[4], eh[5]);
	if (le_get16(eh + 18) != EM_X86_64)
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "Xen dump-core of machine %u: only x86_64 guests are supported",
				   le_get16(eh + 18));
	shoff = le_get64(eh + 40);
	shnum = le_get16(eh + 60);
	shstrndx = le_get16(eh + 62);
	if (le_get16(eh + 58) != SHDR_SIZE)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: section header size %u, expected %u",
				   le_get16(eh + 58), SHDR_SIZE);
	if (shnum > MAX_SECTIONS)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: %u sections (at most %u)",
				   shnum, MAX_SECTIONS);
	if (!vmc_add_ok(shoff, (uint64_t)shnum * SHDR_SIZE, &end) || end > fsize)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: %u section headers at 0x%llx beyond end of file (0x%llx)",
				   shnum, (unsigned long long)shoff, (unsigned long long)fsize);
	if (shstrndx >= shnum)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: section name table index %u, but %u sections",
				   shstrndx, shnum);
	sh = malloc((size_t)shnum * SHDR_SIZE);
	if (!sh)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = vmc_io_read_exact(d, sh, (size_t)shnum * SHDR_SIZE, shoff, "Xen dump-core section headers");
	if (rc < 0)
		goto out;
	stroff = le_get64(sh + shstrndx * SHDR_SIZE + 24);
	strsize = le_get64(sh + shstrndx * SHDR_SIZE + 32);
	if (strsize == 0 || strsize > MAX_STRTAB || !vmc_add_ok(stroff, strsize, &end) || end > fsize) {
		rc = vmc_set_err(d, VMC_ERR_CORRUPT,
				 "Xen dump-core: section name table (0x%llx bytes at 0x%llx) beyond end of file (0x%llx) or too large",
				 (unsigned long long)strsize, (unsigned long long)stroff,
				 (unsigned long long)fsize);
		goto out;
	}
	strtab = malloc((size_t)strsize + 1);
	if (!strtab) {
		rc = vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = vmc_io_read_exact(d, strtab, (size_t)strsize, stroff, "Xen dump-core section name table");
	if (rc < 0)
		goto out;
	strtab[strsize] = 0;
	for (unsigned i = 1; i < shnum; i++) {
		const uint8_t *p = sh + (size_t)i * SHDR_SIZE;
		uint32_t name = le_get32(p);
		if (name >= strsize)
			continue;
		for (int k = 0; k < S_COUNT; k++) {
			if (strcmp(strtab + name, sec_names[k]) != 0)
				continue;
			if (s[k].found) {
				vmc_warn(d, "Xen dump-core: a second %s section (header %u) ignored",
					 sec_names[k], i);
				break;
			}
			s[k].found = true;
			s[k].name = sec_names[k];
			s[k].off = le_get64(p + 24);
			s[k].size = le_get64(p + 32);
			s[k].entsize = le_get64(p + 56);
			if (!vmc_add_ok(s[k].off, s[k].size, &end) || end > (1ULL << 62)) {
				rc = vmc_set_err(d, VMC_ERR_CORRUPT,
						 "Xen dump-core: section %s: 0x%llx bytes at 0x%llx out of bounds",
						 sec_names[k], (unsigned long long)s[k].size,
						 (unsigned long long)s[k].off);
				goto out;
			}
		}
	}
	rc = VMC_OK;
out:
	free(sh);
	free(strtab);
	return rc;
}

/* Bytes of a section that the file holds; a section cut short by the end of
 * the file is reported once. */
uint64_t vmc_xcore_section_avail(vmc_dump *d, const struct section *s)
{
	uint64_t fsize = d->io->size;

	if (s->off >= fsize) {
		if (s->size) {
			vmc_warn(d, "Xen dump-core: section %s (0x%llx bytes at 0x%llx) lies past the end of the file (0x%llx): truncated",
				 s->name, (unsigned long long)s->size, (unsigned long long)s->off,
				 (unsigned long long)fsize);
			d->incomplete = true;
		}
		return 0;
	}
	if (s->size > fsize - s->off) {
		vmc_warn(d, "Xen dump-core: section %s: 0x%llx of 0x%llx bytes in the file: truncated",
			 s->name, (unsigned long long)(fsize - s->off), (unsigned long long)s->size);
		d->incomplete = true;
		return fsize - s->off;
	}
	return s->size;
}

static void copy_str(char *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
	size_t n = 0;
	while (n + 1 < dstlen && n < srclen && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] > 0x7e)
			dst[i] = '?';
}

int vmc_xcore_read_notes(vmc_dump *d, struct vmc_xcore *x, const struct section *s)
{
	uint64_t avail;
	uint8_t *b;
	size_t off = 0, len;
	bool header = false;
	int rc = VMC_OK;

	if (!s->found)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no .note.Xen section");
	if (s->size > MAX_NOTE_SEC)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: .note.Xen of 0x%llx bytes (at most 0x%x)",
				   (unsigned long long)s->size, MAX_NOTE_SEC);
	avail = vmc_xcore_section_avail(d, s);
	if (avail < s->size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "Xen dump-core: .note.Xen (0x%llx bytes at 0x%llx) beyond end of file (0x%llx)",
				   (unsigned long long)s->size, (unsigned long long)s->off,
				   (unsigned long long)d->io->size);
	len = (size_t)avail;
	b = malloc(len ? len : 1);
	if (!b)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = vmc_io_read_exact(d, b, len, s->off, "Xen dump-core .note.Xen");
	if (rc < 0)
		goto out;
	x->pub.xen_major = x->pub.xen_minor = x->pub.format_version = ~0ULL;
	while (len - off >= 12) {
		uint32_t namesz = le_get32(b + off), descsz = le_get32(b + off + 4), type = le_get32(b + off + 8);
		uint64_t dstart = off + 12 + (((uint64_t)namesz + 3) & ~3ULL), next;
		if (!vmc_add_ok(dstart, ((uint64_t)descsz + 3) & ~3ULL, &next) || dstart > len ||
		    descsz > len - dstart) {
			rc = vmc_set_err(d, VMC_ERR_CORRUPT,
					 "Xen dump-core: note at 0x%zx of .note.Xen (namesz %u, descsz %u) runs past the section (0x%zx bytes)",
					 off, namesz, descsz, len);
			goto out;
		}
		const uint8_t *desc = b + dstart;
		bool xen = namesz == 4 && memcmp(b + off + 12, "Xen", 4) == 0;
		if (!xen) {
			vmc_warn(d, "Xen dump-core: note of type 0x%x at 0x%zx not named \"Xen\": ignored", type, off);
		} else if (type == NT_XEN_DUMPCORE_HEADER) {
			if (descsz < 32) {
				rc = vmc_set_err(d, VMC_ERR_CORRUPT,
						 "Xen dump-core: header note of %u bytes (32 expected)", descsz);
				goto out;
			}
			header = true;
			x->pub.magic = le_get64(desc);
			x->pub.header_vcpus = le_get64(desc + 8);
			x->pub.header_pages = le_get64(desc + 16);
			x->pub.header_page_size = le_get64(desc + 24);
		} else if (type == NT_XEN_DUMPCORE_XEN_VERSION) {
			if (descsz >= 32) {
				x->pub.xen_major = le_get64(desc);
				x->pub.xen_minor = le_get64(desc + 8);
				copy_str(x->pub.xen_extra, sizeof(x->pub.xen_extra), desc + 16, 16);
			}
			/* major, minor, extraversion[16], compile_info (144 bytes),
			 * capabilities[1024] */
			if (descsz >= 176 + 1024)
				copy_str(x->pub.capabilities, sizeof(x->pub.capabilities), desc + 176, 1024);
			if (descsz < 32)
				vmc_warn(d, "Xen dump-core: Xen version note of %u bytes: ignored", descsz);
		} else if (type == NT_XEN_DUMPCORE_FORMAT_VERSION) {
			if (descsz >= 8)
				x->pub.format_version = le_get64(desc);
		} else if (type != NT_XEN_DUMPCORE_NONE) {
			vmc_warn(d, "Xen dump-core: unknown note type 0x%x ignored", type);
		}
		off = next > len ? len : (size_t)next;
	}
	if (!header) {
		rc = vmc_set_err(d, VMC_ERR_CORRUPT, "Xen dump-core: no dump-core header note in .note.Xen");
		goto out;
	}
	if (x->pub.magic != MAGIC_PV && x->pub.magic != MAGIC_HVM)
		vmc_warn(d, "Xen dump-core: header magic 0x%llx is neither PV (0xf00febed) nor HVM (0xf00febee)",
			 (unsigned long long)x->pub.magic);
	if (x->pub.header_page_size != PAGE) {
		rc = vmc_set_err(d, VMC_ERR_UNSUPPORTED, "Xen dump-core: page size %llu (only 4096 is supported)",
				 (unsigned long long)x->pub.header_page_size);
		goto out;
	}
	if (x->pub.format_version == ~0ULL)
		vmc_warn(d, "Xen dump-core: no format version note");
	else if (x->pub.format_version != 1)
		vmc_warn(d, "Xen dump-core: format version 0x%llx (1 expected); read as version 1",
			 (unsigned long long)x->pub.format_version);
out:
	free(b);
	return rc;
}
