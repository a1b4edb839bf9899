/* json.c - minimal streaming JSON writer. */
#include "json.h"

void az_json_init(struct az_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
	j->after_key = false;
}

static void value_prefix(struct az_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
}

static void open(struct az_json *j, int c)
{
	value_prefix(j);
	fputc(c, j->f);
	if (j->depth + 1 < AZ_JSON_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_(struct az_json *j, int c)
{
	if (j->depth > 0)
		j->depth--;
	fputc(c, j->f);
}

void az_json_begin_object(struct az_json *j) { open(j, '{'); }
void az_json_end_object(struct az_json *j) { close_(j, '}'); }
void az_json_begin_array(struct az_json *j) { open(j, '['); }
void az_json_end_array(struct az_json *j) { close_(j, ']'); }

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p >= 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void az_json_key(struct az_json *j, const char *key)
{
	value_prefix(j);
	put_string(j->f, key);
	fputc(':', j->f);
	j->after_key = true;
}

void az_json_str(struct az_json *j, const char *s)
{
	value_prefix(j);
	if (s)
		put_string(j->f, s);
	else
		fputs("null", j->f);
}

void az_json_u64(struct az_json *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void az_json_i64(struct az_json *j, int64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%lld", (long long)v);
}

void az_json_hex(struct az_json *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->f, "\"0x%llx\"", (unsigned long long)v);
}

void az_json_bool(struct az_json *j, bool v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

void az_json_null(struct az_json *j)
{
	value_prefix(j);
	fputs("null", j->f);
}

void az_json_finish(struct az_json *j)
{
	fputc('\n', j->f);
}

/* az_json_kNAME(j, key, v): the key, then az_json_NAME(j, v) */
#define AZ_JSON_KEYED(name, type) \
	void az_json_k##name(struct az_json *j, const char *key, type v) \
	{ \
		az_json_key(j, key); \
		az_json_##name(j, v); \
	}
AZ_JSON_KEYED(str, const char *)
AZ_JSON_KEYED(u64, uint64_t)
AZ_JSON_KEYED(i64, int64_t)
AZ_JSON_KEYED(hex, uint64_t)
AZ_JSON_KEYED(bool, bool)

/* The key, and null when the value is missing: true when it is there. */
static bool key_have(struct az_json *j, const char *key, bool have)
{
	az_json_key(j, key);
	if (!have)
		az_json_null(j);
	return have;
}

void az_json_ku64_if(struct az_json *j, const char *key, bool have, uint64_t v)
{
	if (key_have(j, key, have))
		az_json_u64(j, v);
}

void az_json_ki64_if(struct az_json *j, const char *key, bool have, int64_t v)
{
	if (key_have(j, key, have))
		az_json_i64(j, v);
}

void az_json_khex_if(struct az_json *j, const char *key, bool have, uint64_t v)
{
	if (key_have(j, key, have))
		az_json_hex(j, v);
}
