/* xnote.c - Xen crash note decoding, KEY=VALUE text, and the normalised notes
 * salvage writes into the Xen dumps it produces (docs/formats.md §4.3-§4.6). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int xnote_set_err(char err[XNOTE_ERR_MAX], int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, XNOTE_ERR_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

int xnote_parse_crash_info(const uint8_t *desc, size_t len, struct xnote_crash_info *out)
{
	struct xnote_crash_info ci = { 0 };
	size_t words = len / 8;

	if (len < XNOTE_CRASH_INFO_MIN)
		return -1;
	ci.major = le_get64(desc + 0);
	ci.minor = le_get64(desc + 8);
	ci.extra_version = le_get64(desc + 16);
	ci.changeset = le_get64(desc + 24);
	ci.compiler = le_get64(desc + 32);
	ci.compile_date = le_get64(desc + 40);
	ci.compile_time = le_get64(desc + 48);
	ci.tainted = le_get64(desc + 56);
	if (words == 8) {
		ci.layout = XNOTE_LAYOUT_V0;
	} else {
		ci.has_p2m = true;
		ci.p2m_mfn = le_get64(desc + (words - 1) * 8);
		if (words == 9) {
			ci.layout = XNOTE_LAYOUT_V1;
		} else {
			ci.layout = words == 10 ? XNOTE_LAYOUT_CURRENT : XNOTE_LAYOUT_LONGER;
			ci.has_phys_start = true;
			ci.phys_start = le_get64(desc + 64);
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
		cr[i] = le_get64(desc + 8 * i);
	return 0;
}

void xnote_write_crash_info(const struct xnote_crash_info *ci, uint8_t out[XNOTE_CRASH_INFO_SIZE])
{
	const uint64_t w[10] = {
		ci->major, ci->minor, ci->extra_version, ci->changeset, ci->compiler,
		ci->compile_date, ci->compile_time, ci->tainted,
		ci->has_phys_start ? ci->phys_start : 0,
		ci->has_p2m ? ci->p2m_mfn : 0,
	};
	for (int i = 0; i < 10; i++)
		le_put64(out + 8 * i, w[i]);
}

/* ---- KEY=VALUE text ------------------------------------------------------ */

bool xnote_kv_get(const char *text, size_t len, const char *key, char *val, size_t cap)
{
	size_t kl = strlen(key), i = 0;

	if (!text || !cap)
		return false;
	while (i < len && text[i]) {
		size_t e = i;
		while (e < len && text[e] && text[e] != '\n')
			e++;
		if (e - i > kl && memcmp(text + i, key, kl) == 0 && text[i + kl] == '=') {
			size_t vl = e - i - kl - 1;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(val, text + i + kl + 1, vl);
			val[vl] = 0;
			return true;
		}
		i = e + 1;
	}
	return false;
}

static bool parse_num(const char *s, int base, uint64_t *v)
{
	uint64_t r = 0;
	int n = 0;

	if (base == 10 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++, n++) {
		int dgt;
		if (*s >= '0' && *s <= '9')
			dgt = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			dgt = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			dgt = *s - 'A' + 10;
		else
			return false;
		if (r > (UINT64_MAX - (uint64_t)dgt) / (uint64_t)base)
			return false;
		r = r * (uint64_t)base + (uint64_t)dgt;
	}
	if (!n)
		return false;
	*v = r;
	return true;
}

bool xnote_kv_hex(const char *text, size_t len, const char *key, uint64_t *v)
{
	char buf[40];
	return xnote_kv_get(text, len, key, buf, sizeof(buf)) && parse_num(buf, 16, v);
}

bool xnote_kv_dec(const char *text, size_t len, const char *key, uint64_t *v)
{
	char buf[40];
	return xnote_kv_get(text, len, key, buf, sizeof(buf)) && parse_num(buf, 10, v);
}

/* ---- normalising a Xen dump's notes ---------------------------------------- */

static size_t align4(size_t v)
{
	return (v + 3) & ~(size_t)3;
}

static size_t note_size(size_t namelen, size_t descsz)
{
	return 12 + align4(namelen + 1) + align4(descsz);
}

static bool is_text(const struct xnote_note *n)
{
	return n->type == 0 && (strcmp(n->name, "VMCOREINFO") == 0 ||
				strcmp(n->name, "VMCOREINFO_XEN") == 0 ||
				strcmp(n->name, XNOTE_NAME_DOM0_VMCOREINFO) == 0 ||
				strcmp(n->name, XNOTE_NAME_SALVAGE) == 0);
}

static bool is_crash_info(const struct xnote_note *n)
{
	return n->type == XNOTE_TYPE_CRASH_INFO && strcmp(n->name, XNOTE_NAME) == 0;
}

/* Notes that exist once per dump: a second copy is dropped. */
static bool is_single(const struct xnote_note *n)
{
	return is_crash_info(n) || is_text(n);
}

#define SALVAGE_TEXT_MAX (XNOTE_MAX_FIXES * (XNOTE_FIX_LEN + 8) + 64)

size_t xnote_normalize_bound(const struct xnote_note *notes, size_t n,
			     const struct xnote_norm_opts *o)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += note_size(strlen(notes[i].name),
				   notes[i].descsz > XNOTE_CRASH_INFO_SIZE ? notes[i].descsz
									  : XNOTE_CRASH_INFO_SIZE);
	if (o && o->dom0_vmcoreinfo)
		total += note_size(strlen(XNOTE_NAME_DOM0_VMCOREINFO), o->dom0_vmcoreinfo_len);
	return total + note_size(strlen(XNOTE_NAME_SALVAGE), SALVAGE_TEXT_MAX);
}

static void fix(struct xnote_fixes *fx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fix(struct xnote_fixes *fx, const char *fmt, ...)
{
	va_list ap;

	if (!fx || fx->n >= XNOTE_MAX_FIXES)
		return;
	va_start(ap, fmt);
	vsnprintf(fx->text[fx->n], XNOTE_FIX_LEN, fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < fx->n; i++)
		if (strcmp(fx->text[i], fx->text[fx->n]) == 0)
			return;
	fx->n++;
}

struct outbuf {
	uint8_t *p;
	size_t cap, len;
	bool full;
};

static void emit(struct outbuf *b, const char *name, uint32_t type, const void *desc,
		 size_t descsz)
{
	size_t nl = strlen(name) + 1, sz = note_size(nl - 1, descsz);
	uint8_t *h;

	if (b->full || b->cap - b->len < sz) {
		b->full = true;
		return;
	}
	h = b->p + b->len;
	memset(h, 0, sz);
	le_put32(h, (uint32_t)nl);
	le_put32(h + 4, (uint32_t)descsz);
	le_put32(h + 8, (uint32_t)type);
	memcpy(h + 12, name, nl);
	if (descsz)
		memcpy(h + 12 + align4(nl), desc, descsz);
	b->len += sz;
}

int xnote_normalize(const struct xnote_note *notes, size_t n, const struct xnote_norm_opts *o,
		    uint8_t *out, size_t cap, size_t *outlen, struct xnote_fixes *fx)
{
	static const struct xnote_norm_opts none;
	struct outbuf b = { out, cap, 0, false };
	struct xnote_fixes local;
	size_t empty_cpus = 0, cpu = 0;
	bool from_note = false;

	if (!o)
		o = &none;
	if (!fx)
		fx = &local;
	fx->n = 0;
	if (o->repacked)
		fix(fx, "notes re-packed with 4-byte alignment (padding, empty notes or 8-byte alignment removed)");
	for (size_t i = 0; i < n; i++) {
		const struct xnote_note *nt = &notes[i];
		bool dup = false;

		if (nt->type == 1 && strcmp(nt->name, "CORE") == 0) {
			bool zero = true;
			for (uint32_t k = 0; k < nt->descsz && zero; k++)
				zero = nt->desc[k] == 0;
			empty_cpus += zero;
			cpu++;
		}
		if (is_single(nt)) {
			for (size_t j = 0; j < i && !dup; j++)
				dup = notes[j].type == nt->type && strcmp(notes[j].name, nt->name) == 0;
			if (dup) {
				fix(fx, "duplicate %s note dropped",
				    is_crash_info(nt) ? "Xen CRASH_INFO" : nt->name);
				continue;
			}
		}
		if (is_text(nt) && nt->descsz_declared > nt->descsz) {
			fix(fx, "%s: descsz %u covered %u bytes of NUL padding; cut to the %u-byte text",
			    nt->name, nt->descsz_declared, nt->descsz_declared - nt->descsz,
			    nt->descsz);
		}
		if (strcmp(nt->name, XNOTE_NAME_SALVAGE) == 0) {
			/* an earlier salvage run's fixes stay true of the original */
			const char *t = (const char *)nt->desc, *end = t + nt->descsz;
			while (t < end) {
				const char *e = memchr(t, '\n', (size_t)(end - t));
				if (!e)
					e = end;
				if (e - t > 4 && memcmp(t, "FIX=", 4) == 0)
					fix(fx, "%.*s", (int)(e - t - 4), t + 4);
				t = e + 1;
			}
			continue;      /* rewritten with this run's list below */
		}
		if (strcmp(nt->name, XNOTE_NAME_DOM0_VMCOREINFO) == 0 && o->dom0_vmcoreinfo)
			continue;      /* replaced by the caller's copy */
		if (nt->type == 0 && strcmp(nt->name, "VMCOREINFO") == 0 && o->dom0_vmcoreinfo &&
		    nt->descsz == o->dom0_vmcoreinfo_len &&
		    memcmp(nt->desc, o->dom0_vmcoreinfo, nt->descsz) == 0) {
			/* kexec-tools before 2.0.4 added dom0's note; its addresses
			 * are dom0's, which readers of a machine dump would misuse */
			fix(fx, "dom0's VMCOREINFO note (kexec-tools before 2.0.4) renamed %s",
			    XNOTE_NAME_DOM0_VMCOREINFO);
			from_note = true;
			continue;
		}
		if (is_crash_info(nt)) {
			struct xnote_crash_info ci;
			if (xnote_parse_crash_info(nt->desc, nt->descsz, &ci) == 0 &&
			    ci.layout != XNOTE_LAYOUT_CURRENT && ci.layout != XNOTE_LAYOUT_LONGER &&
			    (ci.has_phys_start || o->has_phys_start)) {
				uint8_t w[XNOTE_CRASH_INFO_SIZE];
				if (!ci.has_phys_start) {
					ci.has_phys_start = true;
					ci.phys_start = o->phys_start;
				}
				xnote_write_crash_info(&ci, w);
				fix(fx, "Xen CRASH_INFO: %u-byte layout rewritten in the current 80-byte one "
				    "(xen_phys_start 0x%llx derived from Xen's page tables%s)",
				    nt->descsz, (unsigned long long)ci.phys_start,
				    ci.has_p2m ? "" : "; no dom0 P2M frame: 0");
				emit(&b, nt->name, nt->type, w, sizeof(w));
				continue;
			}
		}
		emit(&b, nt->name, nt->type, nt->desc, nt->descsz);
	}
	if (empty_cpus)
		fix(fx, "%zu of %zu physical CPUs saved no registers (all-zero CORE notes kept in place)",
		    empty_cpus, cpu);
	if (o->dom0_vmcoreinfo) {
		emit(&b, XNOTE_NAME_DOM0_VMCOREINFO, 0, o->dom0_vmcoreinfo, o->dom0_vmcoreinfo_len);
		if (!from_note && o->dom0_vmcoreinfo_maddr)
			fix(fx, "dom0's VMCOREINFO (absent from Xen dumps) found in dom0's memory at machine 0x%llx, added as %s",
			    (unsigned long long)o->dom0_vmcoreinfo_maddr, XNOTE_NAME_DOM0_VMCOREINFO);
	}
	/* the list itself, so that readers of the output can tell what changed */
	char text[SALVAGE_TEXT_MAX];
	size_t tl = 0;
	tl += (size_t)snprintf(text, sizeof(text), "FIXES=%zu\n", fx->n);
	for (size_t i = 0; i < fx->n && tl < sizeof(text); i++)
		tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "FIX=%s\n", fx->text[i]);
	if (tl >= sizeof(text))
		tl = sizeof(text) - 1;
	emit(&b, XNOTE_NAME_SALVAGE, 0, text, tl);
	if (b.full)
		return XNOTE_ERR_SPACE;
	*outlen = b.len;
	return XNOTE_OK;
}
