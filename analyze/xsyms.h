/* xsyms.h - the symbol table of a xen-syms file (xen-syms.c; no DWARF
 * needed).  Model: knows nothing of argv or printing. */
#ifndef SALVAGE_AZ_XSYMS_H
#define SALVAGE_AZ_XSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct az_xsyms;
/* Load path; on failure fill err and return -1. */
int az_xsyms_load(const char *path, struct az_xsyms **out, char *err, size_t errlen);
void az_xsyms_free(struct az_xsyms *s);
/* Address of name, or of a function-static "name.N"; false if absent. */
bool az_xsyms_find(const struct az_xsyms *s, const char *name, uint64_t *addr);
/* The function holding addr (name inside s, offset, size); false when no
 * symbol does. */
bool az_xsyms_lookup(const struct az_xsyms *s, uint64_t addr, const char **name, uint64_t *off,
		     uint64_t *size);
/* The GNU build id and the address of its bytes in Xen's memory. */
const uint8_t *az_xsyms_build_id(const struct az_xsyms *s, size_t *len, uint64_t *va);

#endif
