/* args.c - what the commands share: the command line (dump paths, --json,
 * --vmlinux, --xen-syms, --dom0, the log options), opening a dump and the
 * kernel model with one error format, and escaping bytes from the dump in
 * text output. */
#include "salvage.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --name VALUE or --name=VALUE at argv[*i]: *match tells whether argv[*i]
 * is that option; the value, or NULL when it is missing (*i moves past a
 * separate VALUE). */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *match)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	*match = !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
	if (!*match)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	return *i + 1 < argc ? argv[++*i] : NULL;
}

int az_parse_args(int argc, char **argv, const struct az_cmd *c, struct az_args *a)
{
	static const struct {
		unsigned opt;
		const char *name, *what;
	} valued[] = {
		{ AZ_OPT_VMLINUX, "--vmlinux", "needs a file" },
		{ AZ_OPT_XEN_SYMS, "--xen-syms", "takes a file" },
		{ AZ_OPT_LOG, "--level", "takes a level from 0 to 7" },
		{ AZ_OPT_MOD_DIR, "--mod-dir", "needs a directory" },
	};

	memset(a, 0, sizeof(*a));
	a->level = 7;
	a->pos = (const char **)argv + 1;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		bool match = false;
		size_t v;

		if (!strcmp(s, "--json")) {
			a->json = true;
			continue;
		}
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(c->usage, stdout);
			return 1;
		}
		{
			/* a sealed dump's key, for every command */
			const char *k = opt_value(argc, argv, &i, "--key", &match);
			if (match) {
				if (!k || !*k) {
					fprintf(stderr, "salvage %s: --key needs a file\n", c->name);
					return -1;
				}
				az_seal_key = k;
				continue;
			}
		}
		if ((c->opts & AZ_OPT_DOM0) && !strcmp(s, "--dom0")) {
			a->dom0 = true;
			continue;
		}
		if ((c->opts & AZ_OPT_LOG) && !strcmp(s, "--raw")) {
			a->raw = true;
			continue;
		}
		if ((c->opts & AZ_OPT_LOG) && !strcmp(s, "--caller")) {
			a->caller = true;
			continue;
		}
		for (v = 0; v < sizeof(valued) / sizeof(valued[0]) && !match; v++) {
			const char *val;
			if (!(c->opts & valued[v].opt))
				continue;
			val = opt_value(argc, argv, &i, valued[v].name, &match);
			if (!match)
				continue;
			if (!val || !*val || (valued[v].opt == AZ_OPT_LOG &&
					      (val[0] < '0' || val[0] > '7' || val[1]))) {
				fprintf(stderr, "salvage %s: %s %s\n", c->name, valued[v].name,
					valued[v].what);
				return -1;
			}
			if (valued[v].opt == AZ_OPT_VMLINUX)
				a->vmlinux = val;
			else if (valued[v].opt == AZ_OPT_XEN_SYMS)
				a->xen_syms = val;
			else if (valued[v].opt == AZ_OPT_MOD_DIR)
				a->mod_dir = val;
			else
				a->level = val[0] - '0';
		}
		if (match)
			continue;
		if (s[0] == '-' && s[1]) {
			fprintf(stderr, "salvage %s: unknown option '%s'\n%s", c->name, s, c->usage);
			return -1;
		}
		if (c->maxpos >= 0 && a->npos >= c->maxpos) {
			if (c->maxpos == c->minpos)
				fprintf(stderr, "salvage %s: one dump at a time\n", c->name);
			else
				fprintf(stderr, "salvage %s: too many arguments\n%s", c->name, c->usage);
			return -1;
		}
		/* positional arguments move to the front: the write index never
		 * passes the read index */
		a->pos[a->npos++] = s;
	}
	if (a->npos < c->minpos) {
		fputs(c->usage, stderr);
		return -1;
	}
	return 0;
}

int az_args_status(int rc)
{
	return rc > 0 ? AZ_EXIT_OK : rc < 0 ? AZ_EXIT_USAGE : -1;
}

const char *az_seal_key;

vmc_dump *az_open(const char *path)
{
	vmc_dump *d = vmc_dump_create();
	char fdpath[32];
	int mfd = -1;

	if (!d) {
		fprintf(stderr, "salvage: out of memory\n");
		return NULL;
	}
	/* a sealed dump and its key: read the plain stream from memory */
	if (az_seal_key && az_is_sealed(path)) {
		if ((mfd = az_unseal_memfd(path, az_seal_key)) < 0) {
			vmc_dump_destroy(d);
			return NULL;
		}
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", mfd);
	}
	int orc = vmc_open_path(d, mfd >= 0 ? fdpath : path);
	if (mfd >= 0)
		close(mfd);   /* the library holds its own descriptor */
	if (orc < 0) {
		if (az_say_sealed(path)) {
			vmc_dump_destroy(d);
			return NULL;
		}
		/* the library's message may already start with the path
		 * (an open(2) failure): say it once */
		const char *m = vmc_errmsg(d);
		size_t n = strlen(path);
		if (!strncmp(m, path, n) && !strncmp(m + n, ": ", 2))
			m += n + 2;
		fprintf(stderr, "salvage: %s: %s\n", path, m);
		vmc_dump_destroy(d);
		return NULL;
	}
	return d;
}

const char *az_dom0_errmsg(vmc_dump *d)
{
	const char *m = vmc_errmsg(d);
	return strncmp(m, "dom0: ", 6) ? m : m + 6;
}

int az_run_open(struct az_run *r, int argc, char **argv, const struct az_cmd *c,
		unsigned need)
{
	int rc = az_args_status(az_parse_args(argc, argv, c, &r->a));

	memset(&r->k, 0, sizeof(r->k));
	r->cmd = c;
	return rc >= 0 ? rc : az_run_kernel(r, need);
}

int az_run_kernel(struct az_run *r, unsigned need)
{
	vmc_dump *d = az_open(r->a.pos[0]);

	memset(&r->k, 0, sizeof(r->k));
	r->xen = NULL;
	if (!d)
		return AZ_EXIT_FAIL;
	if (r->a.dom0) {
		/* the view reads through the Xen dump: both live until close */
		vmc_dump *view = NULL;
		if (!vmc_xen(d))
			snprintf(r->k.err, sizeof(r->k.err), "--dom0: not a Xen dump (no Xen CRASH_INFO note)");
		else if (vmc_xen_dom0_open(d, NULL, &view) != VMC_OK)
			snprintf(r->k.err, sizeof(r->k.err), "dom0: %s", az_dom0_errmsg(d));
		if (!view) {
			vmc_dump_destroy(d);
			return az_run_fail(r);
		}
		r->xen = d;
		d = view;
	}
	if (az_kernel_open(&r->k, d, r->a.vmlinux, need) < 0)
		return az_run_fail(r);
	return -1;
}

int az_run_fail(struct az_run *r)
{
	if (r->k.err[0]) {
		fprintf(stderr, "salvage %s: %s: %s\n", r->cmd->name, r->a.pos[0], r->k.err);
	}
	az_kernel_close(&r->k);
	vmc_dump_destroy(r->xen);
	r->xen = NULL;
	return AZ_EXIT_FAIL;
}

int az_run_close(struct az_run *r, int ret)
{
	az_kernel_close(&r->k);
	vmc_dump_destroy(r->xen);
	r->xen = NULL;
	return fflush(stdout) == 0 ? ret : AZ_EXIT_FAIL;
}

int az_run_cmd(int argc, char **argv, const struct az_cmd *c)
{
	struct az_run r;
	int ret = az_run_open(&r, argc, argv, c, c->need);

	if (ret >= 0)
		return ret;
	ret = c->run(&r);
	return ret < 0 ? az_run_fail(&r) : az_run_close(&r, ret);
}

/* ---- text output ------------------------------------------------------------------- */

static bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

void az_tput(FILE *f, const char *s, size_t len, bool lines)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (plain(c) || (lines && (c == '\n' || c == '\t')))
			putc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

const char *az_tesc(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	if (!size)
		return buf;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (plain(c)) {
			if (o + 1 >= size)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 4 >= size)
				break;
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	buf[o] = 0;
	return buf;
}
