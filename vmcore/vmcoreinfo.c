/* vmcoreinfo.c - VMCOREINFO and VMCOREINFO_XEN "KEY=VALUE" text (docs/formats.md §2.4). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

void vmc_kv_free(struct vmc_kv_store *s)
{
	free(s->raw);
	free(s->text);
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

int vmc_kv_parse(vmc_dump *d, struct vmc_kv_store *s, const char *text, size_t len,
		 const char *what)
{
	size_t lines = 1, lineno = 0;
	char *p, *end;

	s->raw = malloc(len + 1);
	s->text = malloc(len + 1);
	if (!s->raw || !s->text)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	memcpy(s->raw, text, len);
	s->raw[len] = 0;
	memcpy(s->text, text, len);
	s->text[len] = 0;
	s->len = len;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	s->kv = calloc(lines, sizeof(*s->kv));
	if (!s->kv)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	p = s->text;
	end = s->text + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end;
		char *eq;

		lineno++;
		*eol = 0;
		if (eol > p && eol[-1] == '\r')
			eol[-1] = 0;
		if (*p) {
			eq = strchr(p, '=');
			if (!eq || eq == p) {
				vmc_warn(d, "%s line %zu has no KEY=VALUE form: \"%.40s\"",
					 what, lineno, p);
			} else {
				*eq = 0;
				if (vmc_kv_get(s, p))
					vmc_warn(d, "%s: key %s repeated; first value kept",
						 what, p);
				else {
					s->kv[s->n].key = p;
					s->kv[s->n].value = eq + 1;
					s->n++;
				}
			}
		}
		p = eol + 1;
	}
	if (len && text[len - 1] != '\n')
		vmc_warn(d, "%s: last line lacks its newline", what);
	return VMC_OK;
}

const char *vmc_kv_get(const struct vmc_kv_store *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

/* Parse an unsigned number; base 16 if hex, else decimal with a hexadecimal
 * fallback (what makedumpfile's read_vmcoreinfo_long accepts). */
static int parse_u64(const char *v, bool hex, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return VMC_ERR_CORRUPT;
	errno = 0;
	if (hex || (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))) {
		x = strtoull(v, &end, 16);
	} else {
		x = strtoull(v, &end, 10);
		if (*end) {
			errno = 0;
			x = strtoull(v, &end, 16);
		}
	}
	if (errno || *end || *v == '-')
		return VMC_ERR_CORRUPT;
	*out = x;
	return VMC_OK;
}

static const char *lookup(const vmc_dump *d, const char *kind, const char *name)
{
	char key[160];
	if (snprintf(key, sizeof(key), "%s(%s)", kind, name) >= (int)sizeof(key))
		return NULL;
	return vmc_kv_get(&d->vmci, key);
}

static int get_u64(const vmc_dump *d, const char *kind, const char *name, bool hex,
		   uint64_t *val)
{
	const char *v = lookup(d, kind, name);
	uint64_t x;
	if (!v)
		return VMC_ERR_NOTFOUND;
	if (parse_u64(v, hex, &x) < 0)
		return VMC_ERR_CORRUPT;
	*val = x;
	return VMC_OK;
}

int vmc_vmci_symbol(const vmc_dump *d, const char *name, uint64_t *val)
{
	return get_u64(d, "SYMBOL", name, true, val);
}

int vmc_vmci_size(const vmc_dump *d, const char *name, uint64_t *val)
{
	return get_u64(d, "SIZE", name, false, val);
}

int vmc_vmci_offset(const vmc_dump *d, const char *name, uint64_t *val)
{
	return get_u64(d, "OFFSET", name, false, val);
}

int vmc_vmci_length(const vmc_dump *d, const char *name, uint64_t *val)
{
	return get_u64(d, "LENGTH", name, false, val);
}

/* A signed decimal value (v may be NULL: the key is absent). */
static int parse_i64(const char *v, int64_t *val)
{
	char *end;
	long long x;

	if (!v)
		return VMC_ERR_NOTFOUND;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || !*v || *end)
		return VMC_ERR_CORRUPT;
	*val = x;
	return VMC_OK;
}

int vmc_vmci_number(const vmc_dump *d, const char *name, int64_t *val)
{
	const char *v = lookup(d, "NUMBER", name);
	uint64_t u;

	if (v && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		if (parse_u64(v, true, &u) < 0)
			return VMC_ERR_CORRUPT;
		*val = (int64_t)u;
		return VMC_OK;
	}
	return parse_i64(v, val);
}

int vmc_vmci_crashtime(const vmc_dump *d, int64_t *secs)
{
	return parse_i64(vmc_kv_get(&d->vmci, "CRASHTIME"), secs);
}

int vmc_vmci_kerneloffset(const vmc_dump *d, uint64_t *off)
{
	const char *v = vmc_kv_get(&d->vmci, "KERNELOFFSET");
	if (!v)
		return VMC_ERR_NOTFOUND;
	return parse_u64(v, true, off);
}

const char *vmc_vmcoreinfo_text(const vmc_dump *d, size_t *len)
{
	if (len)
		*len = d->vmci.len;
	return d->vmci.raw;
}

const char *vmc_vmcoreinfo_get(const vmc_dump *d, const char *key)
{
	return vmc_kv_get(&d->vmci, key);
}

size_t vmc_vmcoreinfo_count(const vmc_dump *d)
{
	return d->vmci.n;
}

const struct vmc_kv *vmc_vmcoreinfo_entry(const vmc_dump *d, size_t i)
{
	return i < d->vmci.n ? &d->vmci.kv[i] : NULL;
}

const char *vmc_xen_vmcoreinfo_text(const vmc_dump *d, size_t *len)
{
	if (len)
		*len = d->xen_vmci.len;
	return d->xen_vmci.raw;
}

const char *vmc_xen_vmcoreinfo_get(const vmc_dump *d, const char *key)
{
	return vmc_kv_get(&d->xen_vmci, key);
}
