/* net.h - salvage's dump transport (DESIGN.md "Dumps over the network"):
 * long-term X25519 keys and their files, a mutually authenticated handshake,
 * then authenticated encrypted records in both directions: AES-256-GCM
 * through OpenSSL's libcrypto, or libsodium's secretstream XChaCha20-Poly1305
 * where the CPU has no AES instructions.
 *
 * Used by the receiver (analyze/receive.c), keygen (analyze/keygen.c) and
 * the sending side of salvage-capture (capture/agent-net.c).  Functions
 * return 0 or a negative errno-like value and never print; a message for the
 * caller to prefix goes into the caller's err buffer.
 */
#ifndef SALVAGE_NET_H
#define SALVAGE_NET_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_KEY_BYTES 32
#define NET_LABEL_MAX 64            /* [A-Za-z0-9._-], not starting with '.' */
#define NET_REC_MAX (256 * 1024)    /* plaintext bytes of one record, type included */
#define NET_ERR_MAX 256

/* A key pair read from a private key file (net_key_load). */
struct net_keypair {
	uint8_t pk[NET_KEY_BYTES], sk[NET_KEY_BYTES];
	char label[NET_LABEL_MAX + 1];
};

/* A public key: a .pub file or one line of an authorized-keys file. */
struct net_pubkey {
	uint8_t pk[NET_KEY_BYTES];
	char label[NET_LABEL_MAX + 1];
	uint64_t limit;             /* limit=SIZE on the line; 0 = none given */
};

/* Initialise libsodium and libcrypto (idempotent).  0 or -1. */
int net_init(void);

/* A label is usable as a directory name component. */
bool net_label_ok(const char *label);

/* A new key pair with label. */
int net_key_generate(struct net_keypair *kp, const char *label);
/* Write base (0600, O_EXCL) and base.pub (0644). */
int net_key_save(const struct net_keypair *kp, const char *base, char *err, size_t errlen);
/* Read a private key file written by net_key_save. */
int net_key_load(const char *path, struct net_keypair *kp, char *err, size_t errlen);
/* Parse one public key line: "salvage-x25519 BASE64 LABEL [limit=SIZE]". */
int net_pubkey_parse(const char *line, struct net_pubkey *pk, char *err, size_t errlen);
/* The first key line of a file (.pub). */
int net_pubkey_load(const char *path, struct net_pubkey *pk, char *err, size_t errlen);
/* Every key line of an authorized-keys file ('#' comments, blank lines).
 * *out is malloc'd (the caller frees it). */
int net_authorized_load(const char *path, struct net_pubkey **out, size_t *n,
			char *err, size_t errlen);
/* The first 8 bytes of BLAKE2b(pk) in hex (16 characters and NUL). */
void net_fingerprint(const uint8_t pk[NET_KEY_BYTES], char out[17]);

/* Record ciphers, negotiated in the handshake (DESIGN.md). */
enum net_cipher {
	NET_CIPHER_XCHACHA = 0,         /* secretstream XChaCha20-Poly1305: always */
	NET_CIPHER_AESGCM = 1,          /* AES-256-GCM (libcrypto), when both CPUs have AES-NI */
};

struct evp_cipher_ctx_st;               /* OpenSSL's EVP_CIPHER_CTX */

/* One connection after its handshake. */
struct net_conn {
	int fd;
	int cipher;                     /* enum net_cipher */
	struct evp_cipher_ctx_st *gtx, *grx;    /* AES-256-GCM keys (libcrypto) */
	uint64_t ntx, nrx;              /* AES-256-GCM record counters (the nonces) */
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	uint8_t peer[NET_KEY_BYTES];    /* the peer's authenticated static key */
	uint64_t nrecv;                 /* records received (for messages) */
	/* one record's length and ciphertext, and one plaintext (send side) */
	uint8_t cbuf[4 + NET_REC_MAX + crypto_secretstream_xchacha20poly1305_ABYTES];
	uint8_t pbuf[NET_REC_MAX];
};

/* Handshake errors the receiver logs apart. */
enum {
	NET_E_PROTO = -1000,    /* not a salvage handshake (garbage) */
	NET_E_VERSION,          /* a version this side does not speak */
	NET_E_UNKNOWN,          /* the peer's key is not authorized */
	NET_E_AUTH,             /* a proof does not verify (wrong key, replay, tamper) */
	NET_E_REFUSED,          /* the receiver refused us */
	NET_E_EOF,              /* the peer closed the connection */
};

/* The agent's side on a connected fd: proves me, checks the receiver's key. */
int net_handshake_client(struct net_conn *c, int fd, const struct net_keypair *me,
			 const uint8_t server_pk[NET_KEY_BYTES], char *err, size_t errlen);
/* The receiver's side: accepts only a key of auth[0..nauth), *who its index. */
int net_handshake_server(struct net_conn *c, int fd, const struct net_keypair *me,
			 const struct net_pubkey *auth, size_t nauth, size_t *who,
			 char *err, size_t errlen);

/* Send one record: type and n bytes of payload (n < NET_REC_MAX). */
int net_send(struct net_conn *c, uint8_t type, const void *p, size_t n);
/* Receive one record into buf (capacity cap >= NET_REC_MAX); *type, *n its
 * payload.  NET_E_AUTH: the record does not verify. */
int net_recv(struct net_conn *c, uint8_t *type, uint8_t *buf, size_t cap, size_t *n,
	     char *err, size_t errlen);
/* The same without moving the payload: it stays at *payload (buf + 1); the
 * receiver's DATA records are written from there (one copy fewer). */
int net_recv_at(struct net_conn *c, uint8_t *type, uint8_t *buf, size_t cap,
		const uint8_t **payload, size_t *n, char *err, size_t errlen);
/* Wipe the session keys and free their contexts (the fd is the caller's). */
void net_conn_wipe(struct net_conn *c);

/* Whole reads and writes on a socket; -errno, NET_E_EOF on a clean close. */
int net_read_all(int fd, void *p, size_t n);
int net_write_all(int fd, const void *p, size_t n);

/* ---- the transfer protocol's messages (record types) ----
 * Protocol 2: the stream is the dump, then dmesg.txt, then meta.json.  The
 * dump may be streamed while it is captured (its size unknown until it
 * ends): the open message announces a bound on the whole stream, and SIZES,
 * sent when the dump's bytes are all out, gives the three sizes. */
enum net_msg {
	NET_MSG_OPEN = 1,       /* c->s: id[16], crash_time u64, flags u64, bound u64, mac key[32] */
	NET_MSG_ACCEPT = 2,     /* s->c: resume offset u64 */
	NET_MSG_REFUSE = 3,     /* s->c: reason text */
	NET_MSG_DATA = 4,       /* c->s: offset u64, bytes */
	NET_MSG_ACK = 5,        /* s->c: durable offset u64 */
	NET_MSG_END = 6,        /* c->s: Poly1305 tag of the whole stream (16) */
	NET_MSG_DONE = 7,       /* s->c: the stored directory's name */
	NET_MSG_SIZES = 8,      /* c->s: dump, dmesg.txt, meta.json sizes u64[3] */
};
#define NET_FILES 3             /* the dump, dmesg.txt, meta.json: in this order */
#define NET_ID_BYTES 16
#define NET_MAC_KEY_BYTES 32
#define NET_MAC_BYTES 16
#define NET_OPEN_BYTES (NET_ID_BYTES + 8 + 8 + 8 + NET_MAC_KEY_BYTES)
#define NET_OPEN_FLAGS (NET_ID_BYTES + 8)
#define NET_OPEN_BOUND (NET_ID_BYTES + 16)
#define NET_OPEN_FLAT 1u        /* flag: the dump is a flattened stream (receiver reassembles) */
#define NET_OPEN_STREAMED 2u    /* flag: streamed while captured: the bound is no size */
#define NET_SIZES_BYTES (8 * NET_FILES)

/* The stream's MAC (END): Poly1305 under the transfer's one-time key, run
 * through libcrypto (its AVX-512 code; the tag is the same as libsodium's
 * crypto_onetimeauth).  A zeroed struct holds nothing. */
struct evp_mac_ctx_st;                  /* OpenSSL's EVP_MAC_CTX */
struct net_mac {
	struct evp_mac_ctx_st *x;
	bool bad;                       /* an update failed: no tag will match */
};
/* (Re)start under key.  0 or -ENOMEM/-EIO. */
int net_mac_init(struct net_mac *m, const uint8_t key[NET_MAC_KEY_BYTES]);
void net_mac_update(struct net_mac *m, const void *p, size_t n);
/* The tag of the bytes so far; m goes on.  0 or -EIO. */
int net_mac_peek(const struct net_mac *m, uint8_t out[NET_MAC_BYTES]);
void net_mac_free(struct net_mac *m);

/* Little-endian helpers for the messages. */
void net_put64(uint8_t *p, uint64_t v);
uint64_t net_get64(const uint8_t *p);

/* ---- sealed files (seal.c) ---- */
#define NET_SEAL_MAGIC "SLVGSEAL"
#define NET_SEAL_VERSION 1
#define NET_SEAL_CHUNK (1u << 20)
#define NET_SEAL_HDR 152        /* magic, version, chunk, pk, sealed key, stream header */

/* Do the first n bytes at p start a sealed file? */
bool net_is_sealed(const void *p, size_t n);
/* The recipient's public key from a sealed file's first NET_SEAL_HDR bytes. */
int net_seal_recipient(const void *hdr, size_t n, uint8_t pk[NET_KEY_BYTES]);

/* Writing a sealed file to fd: begin (the header), write any number of
 * times, end (the final chunk), free.  Two chunk buffers, allocated at
 * begin.  -errno on failure. */
struct net_seal {
	int fd;
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t hdr[NET_SEAL_HDR];
	uint8_t *buf, *cbuf;
	size_t fill;
	uint64_t written;               /* bytes of the sealed file so far */
};
int net_seal_begin(struct net_seal *s, int fd, const uint8_t pk[NET_KEY_BYTES]);
int net_seal_write(struct net_seal *s, const void *p, size_t n);
int net_seal_end(struct net_seal *s);
void net_seal_free(struct net_seal *s);
/* Unseal in to out with kp (the recipient's key pair); *bytes written. */
int net_unseal(int in, int out, const struct net_keypair *kp, uint64_t *bytes, char *err,
	       size_t errlen);

/* "HOST:PORT" (HOST a name or an IPv4/IPv6 literal, [v6]:port too) into
 * host and port. */
int net_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

#endif
