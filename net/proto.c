/* proto.c - the handshake and the record layer (DESIGN.md "Dumps over the
 * network" has the message diagram).
 *
 * The handshake combines four X25519 results, as Noise's KK pattern does:
 * ephemeral-ephemeral, agent-ephemeral with receiver-static, agent-static
 * with receiver-ephemeral, static-static.  Only the holder of the agent's
 * secret key (or of the receiver's fresh ephemeral one) computes the third,
 * only the holder of the receiver's secret key the second: each side's proof
 * (a MAC over the transcript under a key derived from all four) shows
 * possession.  The receiver's ephemeral key is new for every connection, so
 * a recorded agent session replayed to it never verifies.
 */
#include "net.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAGIC "SLVG"
#define VERSION 3               /* 2: streamed dumps (SIZES, dump first); 3: libcrypto GCM records */
#define HELLO_BYTES (8 + 2 * NET_KEY_BYTES)
#define HDR_BYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define PROOF_BYTES 32
#define REPLY_BYTES (8 + NET_KEY_BYTES + PROOF_BYTES + HDR_BYTES)
#define FINISH_BYTES (PROOF_BYTES + HDR_BYTES)
#define REFUSE_MAGIC "SLVGnope"
#define KDF_CTX "slvgnet1"
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define GCM_ABYTES 16
#define GCM_NONCE 12

#define ERR(code, ...) (snprintf(err, errlen, __VA_ARGS__), (code))

void net_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t net_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int net_read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r == 0)
			return NET_E_EOF;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int net_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

struct keys {
	uint8_t h[32];                  /* transcript: hello and the receiver's ephemeral key */
	uint8_t c2s[32], s2c[32], proof_s[32], proof_c[32];
};

/* Derive the session keys from the four DH results and the transcript
 * (which has the receiver's header too: the cipher it chose). */
static int derive(struct keys *k, const uint8_t dh[4][32], const uint8_t *hello,
		  const uint8_t *reply_hdr, const uint8_t e_s[NET_KEY_BYTES])
{
	crypto_generichash_state st;
	uint8_t master[32];

	crypto_generichash_init(&st, NULL, 0, sizeof(k->h));
	crypto_generichash_update(&st, (const uint8_t *)"salvage-net-v1", 14);
	crypto_generichash_update(&st, hello, HELLO_BYTES);
	crypto_generichash_update(&st, reply_hdr, 8);
	crypto_generichash_update(&st, e_s, NET_KEY_BYTES);
	crypto_generichash_final(&st, k->h, sizeof(k->h));

	crypto_generichash_init(&st, NULL, 0, sizeof(master));
	crypto_generichash_update(&st, &dh[0][0], 4 * 32);
	crypto_generichash_update(&st, k->h, sizeof(k->h));
	crypto_generichash_final(&st, master, sizeof(master));
	crypto_kdf_derive_from_key(k->c2s, 32, 1, KDF_CTX, master);
	crypto_kdf_derive_from_key(k->s2c, 32, 2, KDF_CTX, master);
	crypto_kdf_derive_from_key(k->proof_s, 32, 3, KDF_CTX, master);
	crypto_kdf_derive_from_key(k->proof_c, 32, 4, KDF_CTX, master);
	sodium_memzero(master, sizeof(master));
	return 0;
}

/* MAC of the transcript; the agent's proof also covers the receiver's. */
static void proof(uint8_t out[PROOF_BYTES], const uint8_t key[32], const uint8_t h[32],
		  const uint8_t *extra)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, 32, PROOF_BYTES);
	crypto_generichash_update(&st, h, 32);
	if (extra)
		crypto_generichash_update(&st, extra, PROOF_BYTES);
	crypto_generichash_final(&st, out, PROOF_BYTES);
}

/* Byte 5: in HELLO the ciphers the agent can use beyond XChaCha20 (bit 1:
 * AES-256-GCM), in REPLY the one the receiver chose. */
static void header(uint8_t *p, uint8_t ciphers)
{
	memcpy(p, MAGIC, 4);
	p[4] = VERSION;
	p[5] = ciphers;
	p[6] = 0;
	p[7] = 0;
}

static int check_header(const uint8_t *p, char *err, size_t errlen)
{
	if (!memcmp(p, REFUSE_MAGIC, 8))
		return ERR(NET_E_REFUSED, "the receiver refused this agent's key");
	if (memcmp(p, MAGIC, 4))
		return ERR(NET_E_PROTO, "not a salvage handshake");
	if (p[4] != VERSION || p[5] > NET_CIPHER_AESGCM || p[6] || p[7])
		return ERR(NET_E_VERSION, "protocol version %u not supported (this side speaks %u)",
			   p[4], VERSION);
	return 0;
}

/* AES-256-GCM where this CPU has AES-NI and PCLMUL (libsodium tells);
 * SALVAGE_NET_CIPHER=xchacha forces the portable cipher (tests, measurements). */
static uint8_t ciphers_here(void)
{
	const char *e = getenv("SALVAGE_NET_CIPHER");

	if (e && !strcmp(e, "xchacha"))
		return 0;
	return crypto_aead_aes256gcm_is_available() ? NET_CIPHER_AESGCM : 0;
}

/* The record keys: for AES-256-GCM one per direction from the same subkeys
 * as the secretstreams (whose headers are exchanged all the same).  A key
 * schedule per direction, set up once; each record only sets its nonce. */
static int gcm_ctx(struct evp_cipher_ctx_st **out, const uint8_t *key, int enc)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	if (!x || EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE, NULL) != 1 ||
	    EVP_CipherInit_ex(x, NULL, NULL, key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

static int cipher_keys(struct net_conn *c, int cipher, const uint8_t *txk, const uint8_t *rxk)
{
	c->cipher = cipher;
	c->ntx = c->nrx = 0;
	if (cipher == NET_CIPHER_AESGCM &&
	    (gcm_ctx(&c->gtx, txk, 1) < 0 || gcm_ctx(&c->grx, rxk, 0) < 0)) {
		net_conn_wipe(c);
		return -1;
	}
	return 0;
}

static int io_err(int rc, const char *what, char *err, size_t errlen)
{
	if (rc == NET_E_EOF)
		return ERR(rc, "connection closed during the %s", what);
	return ERR(rc, "%s: %s", what, strerror(-rc));
}

int net_handshake_client(struct net_conn *c, int fd, const struct net_keypair *me,
			 const uint8_t server_pk[NET_KEY_BYTES], char *err, size_t errlen)
{
	uint8_t hello[HELLO_BYTES], reply[REPLY_BYTES], fin[FINISH_BYTES], want[PROOF_BYTES];
	uint8_t e_pk[32], e_sk[32], dh[4][32];
	const uint8_t *e_s;
	struct keys k;
	int rc;

	memset(c, 0, offsetof(struct net_conn, cbuf));
	c->fd = fd;
	crypto_kx_keypair(e_pk, e_sk);
	header(hello, ciphers_here());
	memcpy(hello + 8, e_pk, 32);
	memcpy(hello + 40, me->pk, 32);
	if ((rc = net_write_all(fd, hello, sizeof(hello))) < 0)
		return io_err(rc, "hello", err, errlen);
	if ((rc = net_read_all(fd, reply, 8)) < 0)
		return io_err(rc, "receiver's reply", err, errlen);
	if ((rc = check_header(reply, err, errlen)) < 0)
		return rc;
	if ((rc = net_read_all(fd, reply + 8, sizeof(reply) - 8)) < 0)
		return io_err(rc, "receiver's reply", err, errlen);
	e_s = reply + 8;
	rc = 0;
	rc |= crypto_scalarmult(dh[0], e_sk, e_s);
	rc |= crypto_scalarmult(dh[1], e_sk, server_pk);
	rc |= crypto_scalarmult(dh[2], me->sk, e_s);
	rc |= crypto_scalarmult(dh[3], me->sk, server_pk);
	sodium_memzero(e_sk, sizeof(e_sk));
	if (rc)
		return ERR(NET_E_AUTH, "the receiver's ephemeral key is degenerate");
	if (reply[5] && !hello[5])
		return ERR(NET_E_PROTO, "the receiver chose a cipher this agent did not offer");
	derive(&k, (const uint8_t (*)[32])dh, hello, reply, e_s);
	sodium_memzero(dh, sizeof(dh));
	proof(want, k.proof_s, k.h, NULL);
	if (sodium_memcmp(want, reply + 40, PROOF_BYTES)) {
		sodium_memzero(&k, sizeof(k));
		return ERR(NET_E_AUTH, "the receiver does not hold the expected key");
	}
	if (crypto_secretstream_xchacha20poly1305_init_pull(&c->rx, reply + 72, k.s2c) < 0)
		return ERR(NET_E_AUTH, "bad stream header");
	proof(fin, k.proof_c, k.h, reply + 40);
	crypto_secretstream_xchacha20poly1305_init_push(&c->tx, fin + PROOF_BYTES, k.c2s);
	rc = cipher_keys(c, reply[5], k.c2s, k.s2c);
	sodium_memzero(&k, sizeof(k));
	if (rc < 0)
		return ERR(NET_E_PROTO, "libcrypto: cannot set up AES-256-GCM");
	memcpy(c->peer, server_pk, NET_KEY_BYTES);
	if ((rc = net_write_all(fd, fin, sizeof(fin))) < 0)
		return io_err(rc, "finish", err, errlen);
	return 0;
}

int net_handshake_server(struct net_conn *c, int fd, const struct net_keypair *me,
			 const struct net_pubkey *auth, size_t nauth, size_t *who,
			 char *err, size_t errlen)
{
	uint8_t hello[HELLO_BYTES], reply[REPLY_BYTES], fin[FINISH_BYTES], want[PROOF_BYTES];
	uint8_t e_sk[32], dh[4][32];
	const uint8_t *e_c, *cpk;
	struct keys k;
	size_t i;
	int rc;

	memset(c, 0, offsetof(struct net_conn, cbuf));
	c->fd = fd;
	if ((rc = net_read_all(fd, hello, sizeof(hello))) < 0)
		return rc == NET_E_EOF ? ERR(NET_E_PROTO, "connection closed before a whole hello")
				       : io_err(rc, "hello", err, errlen);
	if ((rc = check_header(hello, err, errlen)) < 0) {
		if (rc == NET_E_VERSION) {
			/* a salvage agent of another version: our header names ours */
			uint8_t mine[8];
			header(mine, 0);
			net_write_all(fd, mine, sizeof(mine));
		}
		return rc;
	}
	e_c = hello + 8;
	cpk = hello + 40;
	for (i = 0; i < nauth; i++)
		if (!sodium_memcmp(auth[i].pk, cpk, NET_KEY_BYTES))
			break;
	if (i == nauth) {
		char fp[17];
		net_fingerprint(cpk, fp);
		net_write_all(fd, REFUSE_MAGIC, 8);
		return ERR(NET_E_UNKNOWN, "unknown agent key %s", fp);
	}
	header(reply, hello[5] & ciphers_here());
	crypto_kx_keypair(reply + 8, e_sk);
	rc = 0;
	rc |= crypto_scalarmult(dh[0], e_sk, e_c);
	rc |= crypto_scalarmult(dh[1], me->sk, e_c);
	rc |= crypto_scalarmult(dh[2], e_sk, cpk);
	rc |= crypto_scalarmult(dh[3], me->sk, cpk);
	sodium_memzero(e_sk, sizeof(e_sk));
	if (rc)
		return ERR(NET_E_AUTH, "the agent's keys are degenerate");
	derive(&k, (const uint8_t (*)[32])dh, hello, reply, reply + 8);
	sodium_memzero(dh, sizeof(dh));
	proof(reply + 40, k.proof_s, k.h, NULL);
	crypto_secretstream_xchacha20poly1305_init_push(&c->tx, reply + 72, k.s2c);
	if ((rc = net_write_all(fd, reply, sizeof(reply))) < 0) {
		sodium_memzero(&k, sizeof(k));
		return io_err(rc, "reply", err, errlen);
	}
	if ((rc = net_read_all(fd, fin, sizeof(fin))) < 0) {
		sodium_memzero(&k, sizeof(k));
		return io_err(rc, "agent's finish", err, errlen);
	}
	proof(want, k.proof_c, k.h, reply + 40);
	if (sodium_memcmp(want, fin, PROOF_BYTES)) {
		sodium_memzero(&k, sizeof(k));
		return ERR(NET_E_AUTH, "the agent's proof does not verify (replayed or forged session)");
	}
	rc = crypto_secretstream_xchacha20poly1305_init_pull(&c->rx, fin + PROOF_BYTES, k.c2s);
	int crc = cipher_keys(c, reply[5], k.s2c, k.c2s);
	sodium_memzero(&k, sizeof(k));
	if (rc < 0 || crc < 0) {
		net_conn_wipe(c);
		return rc < 0 ? ERR(NET_E_AUTH, "bad stream header")
			      : ERR(NET_E_PROTO, "libcrypto: cannot set up AES-256-GCM");
	}
	memcpy(c->peer, cpk, NET_KEY_BYTES);
	*who = i;
	return 0;
}

/* One AES-256-GCM record into c->cbuf: header (the length, also the
 * associated data), the type byte and payload encrypted, the tag.  Straight
 * from the caller's bytes: no plaintext copy. */
static int gcm_seal(struct net_conn *c, uint8_t type, const void *p, size_t n, size_t *clen)
{
	uint8_t nonce[GCM_NONCE] = { 0 };
	uint8_t *out = c->cbuf + 4;
	int l1, l2, l3, l4;
	EVP_CIPHER_CTX *x = c->gtx;

	net_put64(nonce, c->ntx++);
	*clen = n + 1 + GCM_ABYTES;
	put32(c->cbuf, (uint32_t)*clen);
	if (EVP_EncryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(x, NULL, &l1, c->cbuf, 4) != 1 ||
	    EVP_EncryptUpdate(x, out, &l2, &type, 1) != 1 ||
	    (n && EVP_EncryptUpdate(x, out + l2, &l3, p, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(x, out + 1 + n, &l4) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, GCM_ABYTES, out + 1 + n) != 1)
		return -EIO;
	return 0;
}

int net_send(struct net_conn *c, uint8_t type, const void *p, size_t n)
{
	unsigned long long clen;
	size_t glen;
	int rc;

	if (n >= NET_REC_MAX)
		return -EMSGSIZE;
	if (c->cipher == NET_CIPHER_AESGCM) {
		if ((rc = gcm_seal(c, type, p, n, &glen)) < 0)
			return rc;
		clen = glen;
	} else {
		c->pbuf[0] = type;
		if (n)
			memcpy(c->pbuf + 1, p, n);
		crypto_secretstream_xchacha20poly1305_push(&c->tx, c->cbuf + 4, &clen, c->pbuf,
							   n + 1, NULL, 0,
							   crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		put32(c->cbuf, (uint32_t)clen);
	}
	if ((rc = net_write_all(c->fd, c->cbuf, (size_t)clen + 4)) < 0)
		return rc;
	return 0;
}

int net_recv(struct net_conn *c, uint8_t *type, uint8_t *buf, size_t cap, size_t *n,
	     char *err, size_t errlen)
{
	const uint8_t *payload;
	int rc = net_recv_at(c, type, buf, cap, &payload, n, err, errlen);

	if (rc == 0)
		memmove(buf, payload, *n);
	return rc;
}

/* Open an AES-256-GCM record in place: m (mlen bytes) is the ciphertext
 * and becomes the plaintext, tag its tag, hdr the record header. */
static int gcm_open(struct net_conn *c, const uint8_t hdr[4], uint8_t *m, size_t mlen,
		    uint8_t tag[GCM_ABYTES])
{
	uint8_t nonce[GCM_NONCE] = { 0 };
	int l1, l2, l3;
	EVP_CIPHER_CTX *x = c->grx;

	net_put64(nonce, c->nrx++);
	if (EVP_DecryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(x, NULL, &l1, hdr, 4) != 1 ||
	    EVP_DecryptUpdate(x, m, &l2, m, (int)mlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, GCM_ABYTES, tag) != 1 ||
	    EVP_DecryptFinal_ex(x, m + l2, &l3) != 1)
		return -1;
	return 0;
}

int net_recv_at(struct net_conn *c, uint8_t *type, uint8_t *buf, size_t cap,
		const uint8_t **payload, size_t *n, char *err, size_t errlen)
{
	uint8_t len[4], tag;
	unsigned long long mlen;
	uint32_t clen;
	int rc;

	if ((rc = net_read_all(c->fd, len, 4)) < 0)
		return io_err(rc, "record", err, errlen);
	clen = get32(len);
	size_t ab = c->cipher == NET_CIPHER_AESGCM ? GCM_ABYTES : ABYTES;
	if (clen <= ab || clen > NET_REC_MAX + ab || clen - ab > cap)
		return ERR(NET_E_AUTH, "record %llu: length %u out of range (tampered stream)",
			   (unsigned long long)c->nrecv, clen);
	if (c->cipher == NET_CIPHER_AESGCM) {
		/* the ciphertext straight into buf, decrypted there */
		uint8_t t[GCM_ABYTES];
		mlen = clen - GCM_ABYTES;
		if ((rc = net_read_all(c->fd, buf, (size_t)mlen)) < 0 ||
		    (rc = net_read_all(c->fd, t, sizeof(t))) < 0)
			return io_err(rc, "record", err, errlen);
		rc = gcm_open(c, len, buf, (size_t)mlen, t);
	} else {
		if ((rc = net_read_all(c->fd, c->cbuf, clen)) < 0)
			return io_err(rc, "record", err, errlen);
		rc = crypto_secretstream_xchacha20poly1305_pull(&c->rx, buf, &mlen, &tag, c->cbuf,
								clen, NULL, 0);
	}
	if (rc < 0 || mlen < 1)
		return ERR(NET_E_AUTH, "record %llu does not verify (tampered stream)",
			   (unsigned long long)c->nrecv);
	c->nrecv++;
	*type = buf[0];
	*n = (size_t)mlen - 1;
	*payload = buf + 1;
	return 0;
}

void net_conn_wipe(struct net_conn *c)
{
	/* EVP_CIPHER_CTX_free cleanses the key schedule */
	EVP_CIPHER_CTX_free(c->gtx);
	EVP_CIPHER_CTX_free(c->grx);
	c->gtx = c->grx = NULL;
	sodium_memzero(&c->tx, sizeof(c->tx));
	sodium_memzero(&c->rx, sizeof(c->rx));
}

int net_mac_init(struct net_mac *m, const uint8_t key[NET_MAC_KEY_BYTES])
{
	EVP_MAC *mac;

	net_mac_free(m);
	if (!(mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_POLY1305, NULL)))
		return -EIO;
	m->x = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);                      /* the context holds its own reference */
	if (!m->x)
		return -ENOMEM;
	if (EVP_MAC_init(m->x, key, NET_MAC_KEY_BYTES, NULL) != 1) {
		net_mac_free(m);
		return -EIO;
	}
	return 0;
}

void net_mac_update(struct net_mac *m, const void *p, size_t n)
{
	if (!m->x || EVP_MAC_update(m->x, p, n) != 1)
		m->bad = true;
}

int net_mac_peek(const struct net_mac *m, uint8_t out[NET_MAC_BYTES])
{
	EVP_MAC_CTX *d;
	size_t len = 0;
	int ok;

	if (!m->x || m->bad || !(d = EVP_MAC_CTX_dup(m->x)))
		return -EIO;
	ok = EVP_MAC_final(d, out, &len, NET_MAC_BYTES) == 1 && len == NET_MAC_BYTES;
	EVP_MAC_CTX_free(d);
	return ok ? 0 : -EIO;
}

void net_mac_free(struct net_mac *m)
{
	EVP_MAC_CTX_free(m->x);
	m->x = NULL;
	m->bad = false;
}
