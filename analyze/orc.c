/* orc.c - the kernel's ORC unwind tables (CONFIG_UNWINDER_ORC), read from
 * the dump between __start_orc_unwind_ip/__stop_orc_unwind_ip (s32 offsets,
 * each relative to its own address, sorted) and __start_orc_unwind (6-byte
 * entries, same order).
 *
 * Entry: s16 sp_offset, s16 bp_offset, then a 16-bit field:
 *   bits 0-3 sp_reg, 4-7 bp_reg, and
 *   up to 6.2:  type:2 (CALL 0, REGS 1, REGS_PARTIAL 2), end:1
 *   6.3:        type:2, signal:1, end:1 (commit ffb1b4a41016)
 *   6.4+:       type:3 (UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3,
 *               REGS_PARTIAL 4), signal:1 (commit fb799447ae29)
 * The layout is told by the data: most entries describe plain calls, which
 * read as 0 in bits 8-10 in the old layout and as 2 in the new one. */
#include "kern.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ORC (16u << 20)

static int ver63(vmc_dump *d)
{
	const char *r = vmc_vmcoreinfo_get(d, "OSRELEASE");
	return r && !strncmp(r, "6.3", 3) && (r[3] == '.' || r[3] == '-' || !r[3]);
}

int az_orc_load(vmc_dump *d, const struct az_syms *s, struct az_orc *o, char *err,
		size_t errlen)
{
	uint64_t ip_start, ip_stop, orc_start;

	memset(o, 0, sizeof(*o));
	if (az_syms_addr(s, "__start_orc_unwind_ip", &ip_start) < 0 ||
	    az_syms_addr(s, "__stop_orc_unwind_ip", &ip_stop) < 0 ||
	    az_syms_addr(s, "__start_orc_unwind", &orc_start) < 0) {
		snprintf(err, errlen, "no ORC tables (no __start_orc_unwind_ip symbol: kernel "
			 "built without CONFIG_UNWINDER_ORC)");
		return -1;
	}
	if (ip_stop <= ip_start || (ip_stop - ip_start) % 4 || (ip_stop - ip_start) / 4 > MAX_ORC) {
		snprintf(err, errlen, "ORC: implausible table 0x%" PRIx64 "-0x%" PRIx64,
			 ip_start, ip_stop);
		return -1;
	}
	if (az_orc_read(d, ip_start, orc_start, (size_t)(ip_stop - ip_start) / 4, 0, o, err,
			errlen) < 0)
		return -1;
	if (o->layout == 1 && ver63(d))
		o->layout = 3;
	return 0;
}

int az_orc_read(vmc_dump *d, uint64_t ip_start, uint64_t orc_start, size_t n, int layout,
		struct az_orc *o, char *err, size_t errlen)
{
	int32_t *rel = NULL;
	size_t votes[8] = { 0 };

	memset(o, 0, sizeof(*o));
	if (n == 0 || n > MAX_ORC) {
		snprintf(err, errlen, "ORC: implausible entry count %zu", n);
		return -1;
	}
	o->n = n;
	rel = malloc(o->n * 4);
	o->ip = malloc(o->n * sizeof(*o->ip));
	o->raw = malloc(o->n * 6);
	if (!rel || !o->ip || !o->raw) {
		snprintf(err, errlen, "ORC: out of memory");
		goto fail;
	}
	if (vmc_read_virt(d, ip_start, rel, o->n * 4) != VMC_OK ||
	    vmc_read_virt(d, orc_start, o->raw, o->n * 6) != VMC_OK) {
		snprintf(err, errlen, "ORC tables not readable: %s", vmc_errmsg(d));
		goto fail;
	}
	for (size_t i = 0; i < o->n; i++) {
		o->ip[i] = ip_start + 4 * i + (uint64_t)(int64_t)rel[i];
		if (i && o->ip[i] < o->ip[i - 1]) {
			snprintf(err, errlen, "ORC: .orc_unwind_ip not sorted at entry %zu", i);
			goto fail;
		}
		votes[(o->raw[6 * i + 5] & 7)]++;
	}
	o->layout = layout ? layout : votes[2] > votes[0] ? 2 : 1;
	free(rel);
	return 0;
fail:
	free(rel);
	az_orc_free(o);
	return -1;
}

void az_orc_free(struct az_orc *o)
{
	free(o->ip);
	free(o->raw);
	memset(o, 0, sizeof(*o));
}

bool az_orc_find(const struct az_orc *o, uint64_t ip, struct az_orc_entry *e)
{
	size_t lo = 0, hi = o->n;

	if (!o->n || ip < o->ip[0])
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->ip[mid] <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	const uint8_t *r = o->raw + 6 * (lo - 1);
	uint16_t bits = (uint16_t)(r[4] | r[5] << 8);
	e->sp_offset = (int16_t)(r[0] | r[1] << 8);
	e->bp_offset = (int16_t)(r[2] | r[3] << 8);
	e->sp_reg = bits & 0xf;
	e->bp_reg = (bits >> 4) & 0xf;
	e->signal = false;
	unsigned t = (bits >> 8) & 3;
	bool end;
	switch (o->layout) {
	case 2:
		t = (bits >> 8) & 7;
		e->signal = (bits >> 11) & 1;
		e->type = t <= 4 ? (uint8_t)t : AZ_ORC_T_UNDEFINED;
		return true;
	case 3:
		e->signal = (bits >> 10) & 1;
		end = (bits >> 11) & 1;
		break;
	default:
		end = (bits >> 10) & 1;
		break;
	}
	if (end)
		e->type = AZ_ORC_T_END;
	else if (t == 0 && e->sp_reg == AZ_ORC_REG_UNDEFINED)
		e->type = AZ_ORC_T_UNDEFINED;   /* the old "null" entry */
	else
		e->type = t == 0 ? AZ_ORC_T_CALL : t == 1 ? AZ_ORC_T_REGS :
			  t == 2 ? AZ_ORC_T_REGS_PARTIAL : AZ_ORC_T_UNDEFINED;
	if (e->type == AZ_ORC_T_REGS || e->type == AZ_ORC_T_REGS_PARTIAL)
		e->signal = true;
	return true;
}
