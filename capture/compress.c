/* compress.c - per-thread page compressors.  Each page is compressed on its
 * own (a kdump file stores pages independently), so the output does not depend
 * on how pages are spread over threads. */
#include "internal.h"

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t cap_codec_bound(size_t ps)
{
	/* the largest of the codecs' worst cases, with room to spare */
	size_t b = ps + ps / 16 + 64 + 3;            /* LZO1X */
	size_t z = compressBound((uLong)ps);
	size_t s = snappy_max_compressed_length(ps);
	size_t zs = ZSTD_compressBound(ps);
	if (z > b) b = z;
	if (s > b) b = s;
	if (zs > b) b = zs;
	return b;
}

int cap_codec_init(struct cap_codec *c, unsigned codec, int level)
{
	memset(c, 0, sizeof(*c));
	c->codec = codec;
	c->level = level;
	switch (codec) {
	case 0:
		return 0;
	case VMC_COMP_ZLIB: {
		z_stream *zs = calloc(1, sizeof(*zs));
		if (!zs)
			return -ENOMEM;
		/* makedumpfile's choice: Z_BEST_SPEED unless told otherwise */
		if (deflateInit(zs, level > 0 && level <= 9 ? level : Z_BEST_SPEED) != Z_OK) {
			free(zs);
			return -ENOMEM;
		}
		c->zs = zs;
		return 0;
	}
	case VMC_COMP_LZO:
		if (lzo_init() != LZO_E_OK)
			return -EINVAL;
		c->lzo_wrk = malloc(LZO1X_1_11_MEM_COMPRESS);
		return c->lzo_wrk ? 0 : -ENOMEM;
	case VMC_COMP_SNAPPY:
		return 0;
	case VMC_COMP_ZSTD:
		c->zc = ZSTD_createCCtx();
		if (!c->zc)
			return -ENOMEM;
		if (ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel,
							 level ? level : CAP_ZSTD_DEFAULT_LEVEL)) ||
		    /* one page per frame: no checksum, no size-dependent tuning */
		    ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 0)))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

void cap_codec_fini(struct cap_codec *c)
{
	if (c->zs) {
		deflateEnd(c->zs);
		free(c->zs);
	}
	free(c->lzo_wrk);
	ZSTD_freeCCtx(c->zc);
	memset(c, 0, sizeof(*c));
}

size_t cap_codec_page(struct cap_codec *c, const uint8_t *in, size_t len, uint8_t *out,
		      size_t outcap)
{
	size_t n = 0;

	switch (c->codec) {
	case VMC_COMP_ZLIB: {
		z_stream *zs = c->zs;
		if (deflateReset(zs) != Z_OK)
			return 0;
		zs->next_in = (Bytef *)in;
		zs->avail_in = (uInt)len;
		zs->next_out = out;
		zs->avail_out = (uInt)outcap;
		if (deflate(zs, Z_FINISH) != Z_STREAM_END)
			return 0;
		n = outcap - zs->avail_out;
		break;
	}
	case VMC_COMP_LZO: {
		lzo_uint ol = outcap;
		/* LZO1X-1(11): the same LZO1X stream (makedumpfile and crash
		 * decompress it with lzo1x_decompress_safe) from a 2^11-entry
		 * dictionary, which suits a 4 KiB page better than LZO1X-1's 2^14:
		 * 13% faster on a real dump for 0.3% more bytes, since the table is
		 * cleared for every page */
		if (lzo1x_1_11_compress(in, len, out, &ol, c->lzo_wrk) != LZO_E_OK)
			return 0;
		n = ol;
		break;
	}
	case VMC_COMP_SNAPPY: {
		size_t ol = outcap;
		if (snappy_compress((const char *)in, len, (char *)out, &ol) != SNAPPY_OK)
			return 0;
		n = ol;
		break;
	}
	case VMC_COMP_ZSTD: {
		size_t r = ZSTD_compress2(c->zc, out, outcap, in, len);
		if (ZSTD_isError(r))
			return 0;
		n = r;
		break;
	}
	default:
		return 0;
	}
	return n < len ? n : 0;
}
