/* json.h - a minimal streaming JSON writer for the analyzer's --json output. */
#ifndef SALVAGE_AZ_JSON_H
#define SALVAGE_AZ_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define AZ_JSON_DEPTH 32

struct az_json {
	FILE *f;
	int depth;
	bool need_comma[AZ_JSON_DEPTH];
	bool after_key;
};

void az_json_init(struct az_json *j, FILE *f);
void az_json_begin_object(struct az_json *j);
void az_json_end_object(struct az_json *j);
void az_json_begin_array(struct az_json *j);
void az_json_end_array(struct az_json *j);
void az_json_key(struct az_json *j, const char *key);
void az_json_str(struct az_json *j, const char *s);   /* NULL writes null */
void az_json_u64(struct az_json *j, uint64_t v);
void az_json_i64(struct az_json *j, int64_t v);
void az_json_hex(struct az_json *j, uint64_t v);      /* "0x..." string */
void az_json_bool(struct az_json *j, bool v);
void az_json_null(struct az_json *j);
/* A key and its value in one call; the _if forms write null when !have. */
void az_json_kstr(struct az_json *j, const char *key, const char *s);
void az_json_ku64(struct az_json *j, const char *key, uint64_t v);
void az_json_ki64(struct az_json *j, const char *key, int64_t v);
void az_json_khex(struct az_json *j, const char *key, uint64_t v);
void az_json_kbool(struct az_json *j, const char *key, bool v);
void az_json_ku64_if(struct az_json *j, const char *key, bool have, uint64_t v);
void az_json_ki64_if(struct az_json *j, const char *key, bool have, int64_t v);
void az_json_khex_if(struct az_json *j, const char *key, bool have, uint64_t v);
/* Ends the document with a newline. */
void az_json_finish(struct az_json *j);

#endif
