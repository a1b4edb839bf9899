/* le.h - little- and big-endian field access on possibly unaligned bytes.
 *
 * The one set of byte-order helpers for the whole tree: dump formats, Xen
 * notes, the writers and module files are all little-endian (bitmaps and
 * flattened record headers aside), so every reader and writer goes through
 * these instead of casting structs onto file bytes.  Header-only and
 * dependency-free: a leaf every library and program may include.
 */
#ifndef SALVAGE_COMMON_LE_H
#define SALVAGE_COMMON_LE_H

#include <stdint.h>

static inline uint16_t le_get16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t le_get32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t le_get64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)le_get32(b) | (uint64_t)le_get32(b + 4) << 32;
}

static inline void le_put16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 4; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void le_put64(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 0; i < 8; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline uint64_t be_get64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline void be_put64(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

#endif
