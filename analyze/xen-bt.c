/* xen-bt.c - `salvage xen bt`: each physical CPU's hypervisor stack, RIP
 * then the words in Xen's text from RSP up, checked against the call trace
 * Xen printed into its console ring.  The context is xen.c's (xencmd.h).
 */
#include "xencmd.h"
#include "xenbt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- bt ------------------------------------------------------------------------------- */

#define MAX_XEN_WORDS 512
#define MAX_TRACE 64
#define XEN_IMAGE_SPAN (16ULL << 20)   /* without symbols: text is in the image's first 16 MiB */

/* xen-syms when given and matching, else Xen's own table from the dump */
static bool xen_lookup(const struct xctx *c, const struct az_xen_symtab *own, uint64_t a,
		       const char **name, uint64_t *off, uint64_t *size)
{
	if (c->syms_ok)
		return az_xsyms_lookup(c->syms, a, name, off, size);
	return own && az_xen_symtab_lookup(own, a, name, off, size);
}

static void xen_symbolize(const struct xctx *c, const struct az_xen_symtab *own, uint64_t a,
			  char *buf, size_t len)
{
	const char *name;
	uint64_t off, size;

	if (xen_lookup(c, own, a, &name, &off, &size))
		snprintf(buf, len, "%s+0x%" PRIx64 "/0x%" PRIx64, name, off, size);
	else
		snprintf(buf, len, "0x%" PRIx64, a);
}

/* The addresses of the last "Xen call trace:" Xen printed into its ring,
 * and the CPU of the register dump before it ("CPU:    N"), -1 unknown. */
static size_t ring_trace(const struct ring *r, uint64_t *out, size_t cap, int *cpu)
{
	const char *key = "Xen call trace:", *p = r->text, *last = NULL, *end;
	size_t n = 0;

	*cpu = -1;
	if (!r->text)
		return 0;
	end = r->text + r->len;
	while ((p = memmem(p, (size_t)(end - p), key, strlen(key))) != NULL)
		last = p++;
	if (!last)
		return 0;
	/* the register dump above it names the CPU */
	for (const char *q = last; q > r->text; q--) {
		if (!strncmp(q, "CPU:    ", 8)) {
			*cpu = atoi(q + 8);
			break;
		}
		if (last - q > 4096)
			break;
	}
	p = memchr(last, '\n', (size_t)(end - last));
	while (p && p < end && n < cap) {
		const char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
		const char *b = memmem(p, (size_t)((nl ? nl : end) - p), "[<", 2);
		if (!b)
			break;
		out[n++] = strtoull(b + 2, NULL, 16);
		p = nl;
	}
	return n;
}

int az_xc_bt(struct xctx *c, bool json)
{
	struct ring r;
	const char *how = NULL;
	uint64_t lo = 0, hi = 0, trace[MAX_TRACE];
	struct az_xen_word *w = calloc(MAX_XEN_WORDS, sizeof(*w));
	size_t n = vmc_cpu_count(c->d), ntrace;
	int tcpu;
	struct az_json j;
	char sbuf[256], esc[1024], own_err[256] = "";
	struct az_xen_symtab *own = NULL;

	if (!w)
		return AZ_EXIT_FAIL;
	if (!c->hv_ok) {
		fprintf(stderr, "salvage: %s: %s\n", c->path, c->hv_err);
		free(w);
		return AZ_EXIT_FAIL;
	}
	if (!c->syms_ok)
		az_xen_symtab_load(c->d, &own, own_err, sizeof(own_err));
	if (!(az_xc_sym(c, "_stext", &lo) && az_xc_sym(c, "_etext", &hi) && lo < hi) &&
	    !(!c->syms_ok && az_xen_symtab_text(own, &lo, &hi))) {
		lo = c->hv->virt_start;
		hi = lo + XEN_IMAGE_SPAN;
	}
	az_xc_ring_read(c, &r);
	int ccpu = az_xc_crashing_cpu(c, &r, &how);
	ntrace = ring_trace(&r, trace, MAX_TRACE, &tcpu);
	if (tcpu < 0)
		tcpu = ccpu;
	if (json) {
		az_json_init(&j, stdout);
		az_json_begin_object(&j);
		az_json_kstr(&j, "symbols", c->syms_ok ? "xen-syms" : own ? "xen-image" : NULL);
		az_json_key(&j, "pcpus");
		az_json_begin_array(&j);
	} else if (!c->syms_ok && own) {
		printf("(symbols: Xen's own table in the dump, %zu entries)\n", az_xen_symtab_count(own));
	} else if (!c->syms_ok) {
		printf("(no symbols: %s; give --xen-syms; words in Xen's image are listed)\n", own_err);
	}
	for (size_t i = 0; i < n; i++) {
		const struct vmc_cpu *cpu = vmc_cpu(c->d, i);
		size_t nw = 0, matched = 0;
		char err[256] = "";
		bool ok = az_xen_stack_scan(c->d, i, lo, hi, w, MAX_XEN_WORDS, &nw, err, sizeof(err)) == 0;
		/* the console's trace for this CPU, in order, among RIP and the words */
		if (ok && (int)i == tcpu)
			for (size_t t = 0, k = 0; t < ntrace; t++) {
				if (!t && trace[0] == cpu->regs[VMC_REG_RIP]) {
					matched++;
					continue;
				}
				while (k < nw && w[k].val != trace[t])
					k++;
				if (k == nw)
					break;
				matched++;
				k++;
			}
		if (json) {
			az_json_begin_object(&j);
			az_json_ku64(&j, "cpu", i);
			az_json_kbool(&j, "crashed", (int)i == ccpu);
			az_json_kbool(&j, "saved", !cpu->empty);
			az_json_khex(&j, "rip", cpu->regs[VMC_REG_RIP]);
			az_json_khex(&j, "rsp", cpu->regs[VMC_REG_RSP]);
			az_json_key(&j, "frames");
			az_json_begin_array(&j);
			for (size_t k = 0; !cpu->empty && k <= nw; k++) {
				uint64_t ip = k ? w[k - 1].val : cpu->regs[VMC_REG_RIP];
				const char *name = NULL;
				uint64_t off = 0, size = 0;
				xen_lookup(c, own, ip, &name, &off, &size);
				az_json_begin_object(&j);
				az_json_khex(&j, "sp", k ? w[k - 1].sp : cpu->regs[VMC_REG_RSP]);
				az_json_khex(&j, "ip", ip);
				az_json_kstr(&j, "function", name);
				az_json_ku64(&j, "offset", off);
				az_json_kstr(&j, "how", k ? "scan" : "regs");
				az_json_end_object(&j);
			}
			az_json_end_array(&j);
			if ((int)i == tcpu && ntrace) {
				az_json_key(&j, "console_trace");
				az_json_begin_object(&j);
				az_json_ku64(&j, "addresses", ntrace);
				az_json_ku64(&j, "found_in_order", matched);
				az_json_end_object(&j);
			}
			az_json_kstr(&j, "note", ok ? NULL : err);
			az_json_end_object(&j);
			continue;
		}
		if (i)
			putchar('\n');
		printf("PCPU: %zu%s\n", i, (int)i == ccpu ? "  (crashed)" : "");
		if (cpu->empty) {
			printf("    (no saved state)\n");
			continue;
		}
		xen_symbolize(c, own, cpu->regs[VMC_REG_RIP], sbuf, sizeof(sbuf));
		printf(" #0  [%016" PRIx64 "] %s at %016" PRIx64 "\n", cpu->regs[VMC_REG_RSP],
		       az_tesc(esc, sizeof(esc), sbuf), cpu->regs[VMC_REG_RIP]);
		for (size_t k = 0; k < nw; k++) {
			xen_symbolize(c, own, w[k].val, sbuf, sizeof(sbuf));
			printf("?#%-2zu [%016" PRIx64 "] ? %s at %016" PRIx64 "  (stack scan)\n", k + 1,
			       w[k].sp, az_tesc(esc, sizeof(esc), sbuf), w[k].val);
		}
		if (!ok)
			printf("    (%s)\n", az_tesc(esc, sizeof(esc), err));
		if ((int)i == tcpu && ntrace)
			printf("    (Xen's own call trace in its console ring: %zu of %zu addresses found here, in order)\n",
			       matched, ntrace);
	}
	if (json) {
		az_json_end_array(&j);
		az_json_end_object(&j);
		az_json_finish(&j);
	}
	free(r.text);
	free(w);
	az_xen_symtab_free(own);
	return AZ_EXIT_OK;
}
