/* codec.c - page decompression for kdump-compressed files. */
#include "internal.h"

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <pthread.h>
#include <stdlib.h>

/* lzo_init once per process, whichever thread decompresses first */
static pthread_once_t lzo_once = PTHREAD_ONCE_INIT;
static int lzo_state;   /* 1 ok, -1 failed; written once, under lzo_once */

static void lzo_setup(void)
{
	lzo_state = lzo_init() == LZO_E_OK ? 1 : -1;
}

static int lzo_ready(void)
{
	pthread_once(&lzo_once, lzo_setup);
	return lzo_state;
}

void vmc_codec_free(vmc_dump *d)
{
	ZSTD_freeDCtx(d->zstd_dctx);
	d->zstd_dctx = NULL;
}

int vmc_decompress(vmc_dump *d, unsigned codec, const void *in, size_t inlen,
		   void *out, size_t outlen)
{
	switch (codec) {
	case VMC_COMP_ZLIB: {
		uLongf n = (uLongf)outlen;
		int zr = uncompress(out, &n, in, (uLong)inlen);
		if (zr != Z_OK || n != outlen)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "zlib data does not decompress to one page (%s)",
					   zr == Z_OK ? "short" : zError(zr));
		return VMC_OK;
	}
	case VMC_COMP_LZO: {
		lzo_uint n = outlen;
		if (lzo_ready() < 0)
			return vmc_set_err(d, VMC_ERR_SYSTEM, "lzo library failed to initialise");
		int lr = lzo1x_decompress_safe(in, inlen, out, &n, NULL);
		if (lr != LZO_E_OK || n != outlen)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "lzo data does not decompress to one page (error %d)", lr);
		return VMC_OK;
	}
	case VMC_COMP_SNAPPY: {
		size_t n = 0;
		if (snappy_uncompressed_length(in, inlen, &n) != SNAPPY_OK || n != outlen)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "snappy data does not decompress to one page");
		n = outlen;
		if (snappy_uncompress(in, inlen, out, &n) != SNAPPY_OK || n != outlen)
			return vmc_set_err(d, VMC_ERR_CORRUPT, "snappy data is corrupt");
		return VMC_OK;
	}
	case VMC_COMP_ZSTD: {
		if (!d->zstd_dctx) {
			d->zstd_dctx = ZSTD_createDCtx();
			if (!d->zstd_dctx)
				return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
		}
		size_t n = ZSTD_decompressDCtx(d->zstd_dctx, out, outlen, in, inlen);
		if (ZSTD_isError(n) || n != outlen)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "zstd data does not decompress to one page (%s)",
					   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		return VMC_OK;
	}
	default:
		return vmc_set_err(d, VMC_ERR_CORRUPT, "unknown compression flags 0x%x", codec);
	}
}
