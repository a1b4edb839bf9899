/* xnote.h - Xen crash notes (the only public header of the xen-notes library).
 *
 * Pure functions over descriptor bytes: no I/O, no allocation, so they are tested
 * on plain buffers.  Layouts: formats.md §4.3-§4.5.
 */
#ifndef SALVAGE_XNOTE_H
#define SALVAGE_XNOTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define XNOTE_NAME "Xen"
#define XNOTE_TYPE_CRASH_INFO 0x1000001u
#define XNOTE_TYPE_CRASH_REGS 0x1000002u
#define XNOTE_CRASH_INFO_MIN 64   /* the eight fields every layout has */

/* Historical crash_xen_info_t layouts, told apart by descriptor size. */
enum xnote_layout {
	XNOTE_LAYOUT_V0,      /* 64 bytes: no xen_phys_start, no P2M frame */
	XNOTE_LAYOUT_V1,      /* 72 bytes: + dom0_pfn_to_mfn_frame_list_list */
	XNOTE_LAYOUT_CURRENT, /* 80 bytes: xen_phys_start inserted before it */
	XNOTE_LAYOUT_LONGER,  /* > 80 bytes: read as current, P2M frame last */
};

struct xnote_crash_info {
	enum xnote_layout layout;
	uint64_t major, minor;
	uint64_t extra_version, changeset, compiler, compile_date, compile_time;
	uint64_t tainted;
	bool has_phys_start;
	uint64_t phys_start;
	bool has_p2m;
	uint64_t p2m_mfn;     /* MFN of dom0's P2M top page; 0 or ~0: see §4.6.8 */
};

/* Parse a CRASH_INFO descriptor.  The P2M frame is always the last 8-byte word
 * (the one field every tool agrees on); xen_phys_start is read only from
 * layouts of 80 bytes or more.  Returns 0, or -1 if desc is shorter than
 * XNOTE_CRASH_INFO_MIN. */
int xnote_parse_crash_info(const uint8_t *desc, size_t len, struct xnote_crash_info *out);
const char *xnote_layout_name(enum xnote_layout l);

/* Parse a CRASH_REGS descriptor into cr[0..3] = cr0, cr2, cr3, cr4.
 * Returns 0, or -1 if desc is shorter than 32 bytes. */
int xnote_parse_crash_regs(const uint8_t *desc, size_t len, uint64_t cr[4]);

#endif
