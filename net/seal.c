/* seal.c - sealed files: a dump or a kernel log that only the holder of one
 * X25519 private key can read (docs/formats.md §8.2).
 *
 * A fresh secretstream key is sealed to the recipient's public key with
 * crypto_box_seal; the content follows in secretstream chunks of at most
 * NET_SEAL_CHUNK bytes, the last one tagged FINAL, each with the header as
 * associated data.  Written and read in one pass with two chunk buffers: the
 * memory does not grow with the file.
 */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_HDR crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SEALED_KEY (crypto_secretstream_xchacha20poly1305_KEYBYTES + crypto_box_SEALBYTES)
#define OFF_PK 16
#define OFF_KEY (OFF_PK + NET_KEY_BYTES)
#define OFF_SS (OFF_KEY + SEALED_KEY)

_Static_assert(OFF_SS + SS_HDR == NET_SEAL_HDR, "sealed header layout");

bool net_is_sealed(const void *p, size_t n)
{
	return n >= 8 && !memcmp(p, NET_SEAL_MAGIC, 8);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read up to n bytes (fewer only at the end of the input). */
static ssize_t read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int net_seal_begin(struct net_seal *s, int fd, const uint8_t pk[NET_KEY_BYTES])
{
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->buf = malloc(NET_SEAL_CHUNK);
	s->cbuf = malloc(NET_SEAL_CHUNK + SS_ABYTES);
	if (!s->buf || !s->cbuf) {
		net_seal_free(s);
		return -ENOMEM;
	}
	memcpy(s->hdr, NET_SEAL_MAGIC, 8);
	s->hdr[8] = NET_SEAL_VERSION;
	for (int i = 0; i < 4; i++)
		s->hdr[12 + i] = (uint8_t)(NET_SEAL_CHUNK >> (8 * i));
	memcpy(s->hdr + OFF_PK, pk, NET_KEY_BYTES);
	crypto_secretstream_xchacha20poly1305_keygen(key);
	if (crypto_box_seal(s->hdr + OFF_KEY, key, sizeof(key), pk) < 0) {
		sodium_memzero(key, sizeof(key));
		net_seal_free(s);
		return -EINVAL;
	}
	crypto_secretstream_xchacha20poly1305_init_push(&s->st, s->hdr + OFF_SS, key);
	sodium_memzero(key, sizeof(key));
	int rc = write_all(fd, s->hdr, NET_SEAL_HDR);
	s->written = NET_SEAL_HDR;
	if (rc < 0)
		net_seal_free(s);
	return rc;
}

static int push(struct net_seal *s, bool final)
{
	unsigned long long clen;

	crypto_secretstream_xchacha20poly1305_push(&s->st, s->cbuf, &clen, s->buf, s->fill,
						   s->hdr, NET_SEAL_HDR,
						   final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
	s->fill = 0;
	s->written += clen;
	return write_all(s->fd, s->cbuf, (size_t)clen);
}

int net_seal_write(struct net_seal *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	int rc;

	while (n) {
		/* a full chunk waits for more bytes, so that the last one is FINAL */
		if (s->fill == NET_SEAL_CHUNK && (rc = push(s, false)) < 0)
			return rc;
		size_t k = NET_SEAL_CHUNK - s->fill < n ? NET_SEAL_CHUNK - s->fill : n;
		memcpy(s->buf + s->fill, b, k);
		s->fill += k;
		b += k;
		n -= k;
	}
	return 0;
}

int net_seal_end(struct net_seal *s)
{
	return push(s, true);
}

void net_seal_free(struct net_seal *s)
{
	if (s->buf)
		sodium_memzero(s->buf, NET_SEAL_CHUNK);
	free(s->buf);
	free(s->cbuf);
	s->buf = s->cbuf = NULL;
	sodium_memzero(&s->st, sizeof(s->st));
}

int net_seal_recipient(const void *hdr, size_t n, uint8_t pk[NET_KEY_BYTES])
{
	const uint8_t *h = hdr;

	if (n < NET_SEAL_HDR || !net_is_sealed(h, n) || h[8] != NET_SEAL_VERSION)
		return -EINVAL;
	memcpy(pk, h + OFF_PK, NET_KEY_BYTES);
	return 0;
}

int net_unseal(int in, int out, const struct net_keypair *kp, uint64_t *bytes, char *err,
	       size_t errlen)
{
	uint8_t hdr[NET_SEAL_HDR], key[crypto_secretstream_xchacha20poly1305_KEYBYTES], tag = 0;
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t *c = malloc(NET_SEAL_CHUNK + SS_ABYTES), *m = malloc(NET_SEAL_CHUNK);
	uint32_t chunk;
	uint64_t total = 0, no = 0;
	int rc = -EINVAL;

	if (!c || !m) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	ssize_t r = read_full(in, hdr, sizeof(hdr));
	if (r < 0 || (size_t)r < sizeof(hdr) || !net_is_sealed(hdr, sizeof(hdr))) {
		snprintf(err, errlen, r < 0 ? "read error" : "not a sealed file");
		goto out;
	}
	chunk = (uint32_t)hdr[12] | (uint32_t)hdr[13] << 8 | (uint32_t)hdr[14] << 16 |
		(uint32_t)hdr[15] << 24;
	if (hdr[8] != NET_SEAL_VERSION || chunk != NET_SEAL_CHUNK) {
		snprintf(err, errlen, "sealed format version %u, chunk %u: not supported", hdr[8],
			 chunk);
		goto out;
	}
	if (sodium_memcmp(hdr + OFF_PK, kp->pk, NET_KEY_BYTES)) {
		char fp[17];
		net_fingerprint(hdr + OFF_PK, fp);
		snprintf(err, errlen, "sealed to key %s, not to this one", fp);
		goto out;
	}
	if (crypto_box_seal_open(key, hdr + OFF_KEY, SEALED_KEY, kp->pk, kp->sk) < 0 ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&st, hdr + OFF_SS, key) < 0) {
		snprintf(err, errlen, "the sealed key does not open (damaged header)");
		goto out;
	}
	sodium_memzero(key, sizeof(key));
	while (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		unsigned long long mlen;
		r = read_full(in, c, NET_SEAL_CHUNK + SS_ABYTES);
		if (r < 0) {
			snprintf(err, errlen, "read error: %s", strerror((int)-r));
			rc = (int)r;
			goto out;
		}
		if ((size_t)r < SS_ABYTES) {
			snprintf(err, errlen, "cut short after %llu bytes (no final chunk)",
				 (unsigned long long)total);
			goto out;
		}
		if (crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, &tag, c, (size_t)r, hdr,
							       sizeof(hdr)) < 0) {
			snprintf(err, errlen, "chunk %llu does not verify (damaged or altered)",
				 (unsigned long long)no);
			goto out;
		}
		if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL &&
		    (size_t)r != NET_SEAL_CHUNK + SS_ABYTES) {
			snprintf(err, errlen, "chunk %llu is short and not final", (unsigned long long)no);
			goto out;
		}
		if ((rc = write_all(out, m, (size_t)mlen)) < 0) {
			snprintf(err, errlen, "write: %s", strerror(-rc));
			goto out;
		}
		total += mlen;
		no++;
	}
	if (read_full(in, c, 1) != 0) {
		snprintf(err, errlen, "bytes after the final chunk");
		rc = -EINVAL;
		goto out;
	}
	*bytes = total;
	rc = 0;
out:
	sodium_memzero(&st, sizeof(st));
	if (m)
		sodium_memzero(m, NET_SEAL_CHUNK);
	free(c);
	free(m);
	return rc;
}
