/* notes-out.c - the notes a writer puts in its output: the parsed notes
 * encoded the canonical way (formats.md §2.2), whatever the source's
 * quirks were.
 *
 * A source's note area may hold 8-byte alignment, zero padding after the
 * notes, empty notes, or several PT_NOTE areas each with its own padding.
 * The reader copes with each area on its own, but once the areas are
 * concatenated into one (a kdump sub-header copy, a single PT_NOTE) that
 * context is gone and a reader may take padding for a header.  Writing the
 * notes as they were parsed avoids that: 4-byte alignment, namesz counting
 * the NUL, descsz as declared, nothing between or after the notes.
 */
#include "internal.h"

#include <stdlib.h>

static size_t pad4(size_t v)
{
	return (v + 3) & ~(size_t)3;
}

int vmc_notes_encode(vmc_dump *d, struct vmc_notes_out *out)
{
	size_t total = 0, raw_len = 0;
	const uint8_t *raw = vmc_note_bytes(d, &raw_len);

	memset(out, 0, sizeof(*out));
	out->vmcoreinfo_off = UINT64_MAX;
	for (size_t i = 0; i < vmc_note_count(d); i++) {
		const struct vmc_note *n = vmc_note(d, i);
		size_t nl = strlen(n->name);
		size_t one = 12 + pad4(nl ? nl + 1 : 0) + pad4(n->descsz_declared);
		if (total > SIZE_MAX - one)
			return vmc_set_err(d, VMC_ERR_NOMEM, "notes: %zu notes too large", i);
		total += one;
	}
	out->bytes = malloc(total ? total : 1);
	if (!out->bytes)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory for %zu bytes of notes", total);
	memset(out->bytes, 0, total ? total : 1);

	uint8_t *p = out->bytes;
	for (size_t i = 0; i < vmc_note_count(d); i++) {
		const struct vmc_note *n = vmc_note(d, i);
		size_t nl = strlen(n->name);
		uint32_t namesz = nl ? (uint32_t)nl + 1 : 0;
		for (int k = 0; k < 4; k++) {
			p[k] = (uint8_t)(namesz >> 8 * k);
			p[4 + k] = (uint8_t)(n->descsz_declared >> 8 * k);
			p[8 + k] = (uint8_t)(n->type >> 8 * k);
		}
		memcpy(p + 12, n->name, nl);
		p += 12 + pad4(namesz);
		if (n->type == 0 && strcmp(n->name, "VMCOREINFO") == 0 &&
		    out->vmcoreinfo_off == UINT64_MAX) {
			out->vmcoreinfo_off = (uint64_t)(p - out->bytes);
			out->vmcoreinfo_len = n->descsz_declared;
		}
		/* the parser checked desc + descsz_declared against its area */
		if (n->descsz_declared)
			memcpy(p, n->desc, n->descsz_declared);
		p += pad4(n->descsz_declared);
	}
	out->len = total;
	out->changed = total != raw_len || (total && memcmp(out->bytes, raw, total) != 0);
	return VMC_OK;
}

void vmc_notes_out_free(struct vmc_notes_out *out)
{
	free(out->bytes);
	memset(out, 0, sizeof(*out));
}
