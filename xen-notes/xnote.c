/* xnote.c - Xen crash note decoding. */
#include "xnote.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int xnote_parse_crash_info(const uint8_t *desc, size_t len, struct xnote_crash_info *out)
{
	struct xnote_crash_info ci = { 0 };
	size_t words = len / 8;

	if (len < XNOTE_CRASH_INFO_MIN)
		return -1;
	ci.major = le64(desc + 0);
	ci.minor = le64(desc + 8);
	ci.extra_version = le64(desc + 16);
	ci.changeset = le64(desc + 24);
	ci.compiler = le64(desc + 32);
	ci.compile_date = le64(desc + 40);
	ci.compile_time = le64(desc + 48);
	ci.tainted = le64(desc + 56);
	if (words == 8) {
		ci.layout = XNOTE_LAYOUT_V0;
	} else {
		ci.has_p2m = true;
		ci.p2m_mfn = le64(desc + (words - 1) * 8);
		if (words == 9) {
			ci.layout = XNOTE_LAYOUT_V1;
		} else {
			ci.layout = words == 10 ? XNOTE_LAYOUT_CURRENT : XNOTE_LAYOUT_LONGER;
			ci.has_phys_start = true;
			ci.phys_start = le64(desc + 64);
		}
	}
	*out = ci;
	return 0;
}

const char *xnote_layout_name(enum xnote_layout l)
{
	switch (l) {
	case XNOTE_LAYOUT_V0:
		return "oldest, without xen_phys_start and P2M frame";
	case XNOTE_LAYOUT_V1:
		return "old, without xen_phys_start";
	case XNOTE_LAYOUT_CURRENT:
		return "current";
	case XNOTE_LAYOUT_LONGER:
		return "longer than known, P2M frame taken from the last word";
	}
	return "unknown";
}

int xnote_parse_crash_regs(const uint8_t *desc, size_t len, uint64_t cr[4])
{
	if (len < 32)
		return -1;
	for (int i = 0; i < 4; i++)
		cr[i] = le64(desc + 8 * i);
	return 0;
}
