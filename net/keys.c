/* keys.c - long-term key files.
 *
 *   BASE       salvage-private-x25519 BASE64(secret) LABEL      (mode 0600)
 *   BASE.pub   salvage-x25519 BASE64(public) LABEL [limit=SIZE]
 *
 * One line each; an authorized-keys file is .pub lines, '#' comments and
 * blank lines.  The label names the agent's dump directories on the
 * receiver, so it is restricted to characters safe in a file name.
 */
#include "net.h"

#include <openssl/crypto.h>
#include "../config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRIV_TAG "salvage-private-x25519"
#define PUB_TAG "salvage-x25519"
#define LINE_MAX_BYTES 1024
#define AUTH_MAX_KEYS 4096

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

int net_init(void)
{
	/* libcrypto: no configuration file (the crash kernel has none, and a
	 * host's must not change the record cipher) */
	if (sodium_init() < 0 || !OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL))
		return -1;
	return 0;
}

bool net_label_ok(const char *label)
{
	size_t n = strlen(label);

	if (!n || n > NET_LABEL_MAX || label[0] == '.' || label[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = label[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

void net_fingerprint(const uint8_t pk[NET_KEY_BYTES], char out[17])
{
	uint8_t h[8];

	crypto_generichash(h, sizeof(h), pk, NET_KEY_BYTES, NULL, 0);
	sodium_bin2hex(out, 17, h, sizeof(h));
}

int net_key_generate(struct net_keypair *kp, const char *label)
{
	if (!net_label_ok(label))
		return -EINVAL;
	crypto_kx_keypair(kp->pk, kp->sk);
	snprintf(kp->label, sizeof(kp->label), "%s", label);
	return 0;
}

static int write_file(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	/* the umask must not widen or narrow what we promise */
	if (fchmod(fd, mode) < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(path);
		return -e;
	}
	return close(fd) < 0 ? -errno : 0;
}

int net_key_save(const struct net_keypair *kp, const char *base, char *err, size_t errlen)
{
	char b64[sodium_base64_ENCODED_LEN(NET_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char line[256], pub[4096];
	int rc;

	if (snprintf(pub, sizeof(pub), "%s.pub", base) >= (int)sizeof(pub))
		return ERR("%s: name too long", base);
	sodium_bin2base64(b64, sizeof(b64), kp->sk, NET_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof(line), "%s %s %s\n", PRIV_TAG, b64, kp->label);
	rc = write_file(base, 0600, line);
	sodium_memzero(line, sizeof(line));
	sodium_memzero(b64, sizeof(b64));
	if (rc < 0)
		return snprintf(err, errlen, "%s: %s", base, strerror(-rc)), rc;
	sodium_bin2base64(b64, sizeof(b64), kp->pk, NET_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof(line), "%s %s %s\n", PUB_TAG, b64, kp->label);
	rc = write_file(pub, 0644, line);
	if (rc < 0) {
		unlink(base);
		return snprintf(err, errlen, "%s: %s", pub, strerror(-rc)), rc;
	}
	return 0;
}

/* Split line into at most max blank-separated words (in place). */
static int words(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return max + 1;
		w[n++] = t;
	}
	return n;
}

static int key_b64(const char *s, uint8_t out[NET_KEY_BYTES])
{
	size_t len = 0;

	if (sodium_base642bin(out, NET_KEY_BYTES, s, strlen(s), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 || len != NET_KEY_BYTES)
		return -1;
	return 0;
}

int net_pubkey_parse(const char *line, struct net_pubkey *pk, char *err, size_t errlen)
{
	char buf[LINE_MAX_BYTES], *w[5];
	int n;

	if (strlen(line) >= sizeof(buf))
		return ERR("line too long");
	memcpy(buf, line, strlen(line) + 1);
	n = words(buf, w, 4);
	if (n < 3 || n > 4 || strcmp(w[0], PUB_TAG))
		return ERR("not a '%s KEY LABEL [limit=SIZE]' line", PUB_TAG);
	if (key_b64(w[1], pk->pk) < 0)
		return ERR("key is not 32 bytes of base64");
	if (!net_label_ok(w[2]))
		return ERR("label '%.64s' is not 1-%d of [A-Za-z0-9._-]", w[2], NET_LABEL_MAX);
	snprintf(pk->label, sizeof(pk->label), "%s", w[2]);
	pk->limit = 0;
	if (n == 4 && (strncmp(w[3], "limit=", 6) || cfg_parse_size(w[3] + 6, &pk->limit) < 0 ||
		       !pk->limit))
		return ERR("'%.64s' is not limit=SIZE (digits, then K, M, G or T)", w[3]);
	return 0;
}

/* The lines of a small text file, one at a time. */
static int each_line(const char *path, int (*fn)(const char *line, unsigned no, void *ctx),
		     void *ctx, char *err, size_t errlen)
{
	char line[LINE_MAX_BYTES];
	unsigned no = 0;
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -errno;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = ERR("%s:%u: line too long", path, no);
			break;
		}
		rc = fn(line, no, ctx);
	}
	if (!rc && ferror(f))
		rc = ERR("%s: read error", path);
	fclose(f);
	sodium_memzero(line, sizeof(line));
	return rc;
}

static bool blank(const char *line)
{
	line += strspn(line, " \t\r\n");
	return !*line || *line == '#';
}

struct load_ctx {
	const char *path;
	char *err;
	size_t errlen;
	struct net_keypair *kp;
	struct net_pubkey *pk, *list;
	size_t n;
};

static int priv_line(const char *line, unsigned no, void *vctx)
{
	struct load_ctx *c = vctx;
	char buf[LINE_MAX_BYTES], *w[4];
	char *err = c->err;
	size_t errlen = c->errlen;
	int n, rc = 1;

	if (blank(line))
		return 0;
	memcpy(buf, line, strlen(line) + 1);
	n = words(buf, w, 3);
	if (n != 3 || strcmp(w[0], PRIV_TAG) || key_b64(w[1], c->kp->sk) < 0)
		rc = ERR("%s:%u: not a salvage private key (salvage keygen)", c->path, no);
	else if (!net_label_ok(w[2]))
		rc = ERR("%s:%u: bad label", c->path, no);
	else {
		snprintf(c->kp->label, sizeof(c->kp->label), "%s", w[2]);
		crypto_scalarmult_base(c->kp->pk, c->kp->sk);
	}
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

int net_key_load(const char *path, struct net_keypair *kp, char *err, size_t errlen)
{
	struct load_ctx c = { .path = path, .err = err, .errlen = errlen, .kp = kp };
	int rc = each_line(path, priv_line, &c, err, errlen);

	if (rc == 0)
		return ERR("%s: no key in the file", path);
	return rc < 0 ? rc : 0;
}

static int pub_line(const char *line, unsigned no, void *vctx)
{
	struct load_ctx *c = vctx;
	char msg[NET_ERR_MAX];

	if (blank(line))
		return 0;
	if (net_pubkey_parse(line, c->pk, msg, sizeof(msg)) < 0)
		return snprintf(c->err, c->errlen, "%s:%u: %s", c->path, no, msg), -EINVAL;
	return 1;
}

int net_pubkey_load(const char *path, struct net_pubkey *pk, char *err, size_t errlen)
{
	struct load_ctx c = { .path = path, .err = err, .errlen = errlen, .pk = pk };
	int rc = each_line(path, pub_line, &c, err, errlen);

	if (rc == 0)
		return ERR("%s: no key in the file", path);
	return rc < 0 ? rc : 0;
}

static int auth_line(const char *line, unsigned no, void *vctx)
{
	struct load_ctx *c = vctx;
	struct net_pubkey k;
	char msg[NET_ERR_MAX];

	if (blank(line))
		return 0;
	if (net_pubkey_parse(line, &k, msg, sizeof(msg)) < 0)
		return snprintf(c->err, c->errlen, "%s:%u: %s", c->path, no, msg), -EINVAL;
	if (c->n == AUTH_MAX_KEYS)
		return snprintf(c->err, c->errlen, "%s: more than %d keys", c->path,
				AUTH_MAX_KEYS), -E2BIG;
	for (size_t i = 0; i < c->n; i++)
		if (!sodium_memcmp(c->list[i].pk, k.pk, NET_KEY_BYTES))
			return snprintf(c->err, c->errlen, "%s:%u: key listed twice", c->path,
					no), -EINVAL;
	if ((c->n & (c->n - 1)) == 0) {
		struct net_pubkey *l = realloc(c->list, (c->n ? 2 * c->n : 1) * sizeof(*l));
		if (!l)
			return snprintf(c->err, c->errlen, "out of memory"), -ENOMEM;
		c->list = l;
	}
	c->list[c->n++] = k;
	return 0;
}

int net_authorized_load(const char *path, struct net_pubkey **out, size_t *n,
			char *err, size_t errlen)
{
	struct load_ctx c = { .path = path, .err = err, .errlen = errlen };
	int rc = each_line(path, auth_line, &c, err, errlen);

	if (rc < 0) {
		free(c.list);
		return rc;
	}
	*out = c.list;
	*n = c.n;
	return 0;
}

int net_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *h = s;
	size_t hl;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= hostlen || !colon[1] || strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atol(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	return 0;
}
