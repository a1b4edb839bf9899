/* dump.c - the vmc_dump object: errors, warnings, probing and format dispatch. */
#include "internal.h"
#include "xen-core.h"
#include "kdump-format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

vmc_dump *vmc_dump_create(void)
{
	return calloc(1, sizeof(vmc_dump));
}

void vmc_dump_destroy(vmc_dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->warnings);
	if (d->io)
		d->io->destroy(d->io);
	vmc_elf_free(&d->elf);
	vmc_kdump_free(&d->kd);
	vmc_notes_free(d);
	vmc_kv_free(&d->vmci);
	vmc_kv_free(&d->xen_vmci);
	vmc_xcore_free(d);
	free(d->ranges);
	free(d->pagebuf);
	vmc_codec_free(d);
	free(d);
}

const char *vmc_errmsg(const vmc_dump *d)
{
	return d->errmsg[0] ? d->errmsg : "no error";
}

int vmc_set_err(vmc_dump *d, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

int vmc_prefix_err(vmc_dump *d, int code, const char *fmt, ...)
{
	char old[VMC_ERRMSG_MAX];
	char pre[VMC_ERRMSG_MAX];
	va_list ap;

	memcpy(old, d->errmsg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	char all[2 * VMC_ERRMSG_MAX + 4];
	snprintf(all, sizeof(all), "%s: %s", pre, old);
	snprintf(d->errmsg, sizeof(d->errmsg), "%.*s", VMC_ERRMSG_MAX - 1, all);
	return code;
}

#define VMC_WARNINGS_MAX 256

int vmc_warn(vmc_dump *d, const char *fmt, ...)
{
	char buf[VMC_ERRMSG_MAX];
	va_list ap;
	char **nw;
	char *s;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* identical warnings (e.g. per-CPU quirks) are kept once; a dump with
	 * more distinct quirks than anyone reads (a hostile one: thousands of
	 * odd segments) says so in its last warning instead of growing the
	 * list and the duplicate search without bound */
	if (d->nwarnings >= VMC_WARNINGS_MAX)
		return VMC_OK;
	for (size_t i = 0; i < d->nwarnings; i++)
		if (strcmp(d->warnings[i], buf) == 0)
			return VMC_OK;
	if (d->nwarnings == VMC_WARNINGS_MAX - 1)
		snprintf(buf, sizeof(buf), "more than %d distinct warnings: the rest are not listed",
			 VMC_WARNINGS_MAX - 1);
	s = strdup(buf);
	if (!s)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	nw = realloc(d->warnings, (d->nwarnings + 1) * sizeof(*nw));
	if (!nw) {
		free(s);
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	}
	d->warnings = nw;
	d->warnings[d->nwarnings++] = s;
	return VMC_OK;
}

size_t vmc_warning_count(const vmc_dump *d)
{
	return d->nwarnings;
}

const char *vmc_warning(const vmc_dump *d, size_t i)
{
	return i < d->nwarnings ? d->warnings[i] : NULL;
}

int vmc_io_read_exact(vmc_dump *d, void *buf, size_t len, uint64_t off,
		      const char *what)
{
	size_t got = 0;
	int rc = d->io->read(d, d->io, buf, len, off, &got);

	if (rc < 0)
		return vmc_prefix_err(d, rc, "%s", what);
	if (got != len)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "%s: %zu bytes at 0x%llx beyond end of file (0x%llx)",
				   what, len, (unsigned long long)off,
				   (unsigned long long)d->io->size);
	return VMC_OK;
}

static int range_cmp(const void *a, const void *b)
{
	const struct vmc_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

size_t vmc_ranges_merge(struct vmc_range *r, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 1; i < n; i++) {
		if (r[i].start <= r[out].end) {
			if (r[i].end > r[out].end)
				r[out].end = r[i].end;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

static int open_io(vmc_dump *d, struct vmc_io *io)
{
	uint8_t head[64];
	size_t got = 0;
	int rc;

	if (d->opened)
		return vmc_set_err(d, VMC_ERR_ARG, "dump already opened");
	d->opened = true;
	d->io = io;
	rc = io->read(d, io, head, sizeof(head), 0, &got);
	if (rc < 0)
		return vmc_prefix_err(d, rc, "cannot read file header");
	if (vmc_is_flat_signature(head, got)) {
		struct vmc_io *flat;
		rc = vmc_io_flat_create(d, d->io, &flat);
		d->io = flat;
		if (rc < 0)
			return rc;
		d->flattened = true;
		rc = d->io->read(d, d->io, head, sizeof(head), 0, &got);
		if (rc < 0)
			return vmc_prefix_err(d, rc, "cannot read file header");
	}
	if (got >= KDUMP_SIG_LEN && memcmp(head, KDUMP_SIGNATURE, KDUMP_SIG_LEN) == 0) {
		rc = vmc_kdump_open(d);
	} else if (got >= 8 && memcmp(head, "DISKDUMP", 8) == 0) {
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "legacy in-kernel diskdump (\"DISKDUMP\") files are not supported");
	} else if (got >= 4 && memcmp(head, "\177ELF", 4) == 0) {
		rc = vmc_xcore_probe(head, got) ? vmc_xcore_open(d) : vmc_elf_open(d);
	} else if (got >= 4 && (le_get32(head) == 0xf00febedu || le_get32(head) == 0xf00febeeu)) {
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "Xen dump-core in the pre-ELF layout (magic 0x%08x) is not supported",
				   le_get32(head));
	} else if (got == 0) {
		return vmc_set_err(d, VMC_ERR_CORRUPT, "empty file");
	} else {
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "not a crash dump: no ELF, KDUMP or makedumpfile signature");
	}
	if (rc < 0)
		return rc;
	if (!d->pagebuf)   /* a guest core reads pages while opening */
		d->pagebuf = malloc(d->page_size);
	if (!d->pagebuf)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	vmc_xen_read_strings(d);
	vmc_xen_after_open(d);
	vmc_xcore_after_open(d);
	return VMC_OK;
}

int vmc_open_fd(vmc_dump *d, int fd)
{
	struct vmc_io *io = vmc_io_fd_create(d, fd, false, 0);
	if (!io)
		return d->errmsg[0] ? VMC_ERR_SYSTEM : VMC_ERR_NOMEM;
	return open_io(d, io);
}

int vmc_open_path(vmc_dump *d, const char *path)
{
	return vmc_open_path_flags(d, path, 0);
}

int vmc_open_path_flags(vmc_dump *d, const char *path, unsigned flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct vmc_io *io;

	if (fd < 0)
		return vmc_set_err(d, VMC_ERR_SYSTEM, "%s: %s", path, strerror(errno));
	d->open_flags = flags;
	io = vmc_io_fd_create(d, fd, true, flags);
	if (!io) {
		close(fd);
		return vmc_prefix_err(d, VMC_ERR_SYSTEM, "%s", path);
	}
	return open_io(d, io);
}

int vmc_open_paths(vmc_dump *d, const char *const *paths, size_t n)
{
	int rc;

	if (n == 0)
		return vmc_set_err(d, VMC_ERR_ARG, "no dump given");
	if (n == 1)
		return vmc_open_path(d, paths[0]);
	d->split_ok = true;
	rc = vmc_open_path(d, paths[0]);
	if (rc < 0)
		return vmc_prefix_err(d, rc, "%s", paths[0]);
	return vmc_kdump_join(d, paths, n);
}

int vmc_open_mem(vmc_dump *d, const void *buf, size_t len)
{
	struct vmc_io *io = vmc_io_mem_create(d, buf, len);
	if (!io)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	return open_io(d, io);
}

enum vmc_format vmc_format(const vmc_dump *d) { return d->format; }
bool vmc_is_flattened(const vmc_dump *d) { return d->flattened; }
const char *vmc_producer(const vmc_dump *d) { return d->producer; }
unsigned vmc_compression(const vmc_dump *d) { return d->compression; }
uint32_t vmc_page_size(const vmc_dump *d) { return d->page_size; }
bool vmc_page_size_known(const vmc_dump *d) { return d->page_size_known; }
uint16_t vmc_elf_machine(const vmc_dump *d) { return d->machine; }
bool vmc_incomplete(const vmc_dump *d) { return d->incomplete; }
size_t vmc_range_count(const vmc_dump *d) { return d->nranges; }
const struct vmc_range *vmc_ranges(const vmc_dump *d) { return d->ranges; }
uint64_t vmc_max_pfn(const vmc_dump *d) { return d->max_pfn; }
uint64_t vmc_pages_total(const vmc_dump *d) { return d->pages_total; }
uint64_t vmc_pages_present(const vmc_dump *d) { return d->pages_present; }

const char *vmc_arch(const vmc_dump *d)
{
	switch (d->machine) {
	case EM_X86_64:
		return "x86_64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "aarch64";
	case EM_RISCV:
		return "riscv64";
	case EM_PPC64:
		return "ppc64le";   /* big-endian dumps are refused at open */
	case EM_ARM:
		return "arm";
	default:
		return NULL;
	}
}

const char *vmc_compression_name(unsigned comp)
{
	switch (comp) {
	case 0:
		return "none";
	case VMC_COMP_ZLIB:
		return "zlib";
	case VMC_COMP_LZO:
		return "lzo";
	case VMC_COMP_SNAPPY:
		return "snappy";
	case VMC_COMP_ZSTD:
		return "zstd";
	default:
		return "mixed";
	}
}

/* The file's own frames: pfns, except in a PV guest's dump written by
 * machine frame (xen-pvdump.c), whose pfns are translated to them. */
static bool by_machine(const vmc_dump *d)
{
	return d->xcore && d->xcore->machine_file;
}

static uint64_t file_frames(const vmc_dump *d)
{
	return by_machine(d) ? d->xcore->file_frames : d->max_pfn;
}

static enum vmc_page_state frame_state(const vmc_dump *d, uint64_t f)
{
	if (!d->io || f >= file_frames(d))
		return VMC_PAGE_HOLE;
	if (d->format == VMC_FMT_KDUMP)
		return (enum vmc_page_state)vmc_kdump_page_state(d, f);
	return (enum vmc_page_state)vmc_elf_page_state(d, f);
}

enum vmc_page_state vmc_page_state(const vmc_dump *d, uint64_t pfn)
{
	uint64_t m, n;

	if (by_machine(d))
		return pfn < d->max_pfn && vmc_xcore_pfn_run(d, pfn, &m, &n) == VMC_OK ? frame_state(d, m)
										     : VMC_PAGE_HOLE;
	return frame_state(d, pfn);
}

static enum vmc_page_state frame_state_run(const vmc_dump *d, uint64_t pfn, uint64_t max,
					   uint64_t *run)
{
	uint64_t lim = file_frames(d);
	enum vmc_page_state st = frame_state(d, pfn);
	uint64_t n = 1;

	if (max < 1)
		max = 1;
	if (d->io && pfn < lim &&
	    (d->format == VMC_FMT_ELF || d->format == VMC_FMT_XEN_CORE)) {
		uint64_t edge = vmc_elf_next_edge(d, pfn);
		n = edge - pfn;
	} else if (d->io && pfn < lim && d->format == VMC_FMT_KDUMP &&
		   !(d->incomplete && st == VMC_PAGE_PRESENT)) {
		/* same bits in both bitmaps; whole bytes at a time where possible */
		const uint8_t *b1 = d->kd.bitmap1, *b2 = d->kd.bitmap2;
		uint64_t p = pfn + 1;
		while (p < lim && p - pfn < max) {
			if (!(p & 7) && p + 8 <= lim &&
			    (b1[p >> 3] == 0 || b1[p >> 3] == 0xff) && b1[p >> 3] == b2[p >> 3] &&
			    frame_state(d, p) == st) {
				p += 8;
				continue;
			}
			if (frame_state(d, p) != st)
				break;
			p++;
		}
		n = p - pfn;
	}
	if (pfn >= lim)
		n = max;
	*run = n < max ? n : max;
	return st;
}

enum vmc_page_state vmc_page_state_run(const vmc_dump *d, uint64_t pfn, uint64_t max,
				       uint64_t *run)
{
	uint64_t m, n = UINT64_MAX;

	if (!by_machine(d))
		return frame_state_run(d, pfn, max, run);
	if (max < 1)
		max = 1;
	if (pfn >= d->max_pfn || vmc_xcore_pfn_run(d, pfn, &m, &n) != VMC_OK) {
		*run = n < max ? n : max;
		return VMC_PAGE_HOLE;
	}
	return frame_state_run(d, m, n < max ? n : max, run);
}

static int frame_read(vmc_dump *d, uint64_t f, void *buf)
{
	if (f >= file_frames(d))
		return VMC_NOPAGE;
	if (d->format == VMC_FMT_KDUMP)
		return vmc_kdump_read_page(d, f, buf);
	return vmc_elf_read_page(d, f, buf);
}

int vmc_read_page(vmc_dump *d, uint64_t pfn, void *buf)
{
	uint64_t m, n;

	if (!d->io || d->format == VMC_FMT_UNKNOWN)
		return vmc_set_err(d, VMC_ERR_ARG, "dump not opened");
	if (pfn >= d->max_pfn)
		return VMC_NOPAGE;
	if (!by_machine(d))
		return frame_read(d, pfn, buf);
	if (vmc_xcore_pfn_run(d, pfn, &m, &n) != VMC_OK)
		return VMC_NOPAGE;
	return frame_read(d, m, buf);
}

int vmc_read_pages(vmc_dump *d, uint64_t pfn, size_t n, void *buf, size_t *done)
{
	uint8_t *out = buf;
	size_t i = 0;

	while (i < n) {
		if (d->format == VMC_FMT_ELF || d->format == VMC_FMT_XEN_CORE) {
			uint64_t f = pfn + i, left = n - i;
			if (by_machine(d) && (pfn + i >= d->max_pfn ||
					      vmc_xcore_pfn_run(d, pfn + i, &f, &left) != VMC_OK))
				left = 0;
			size_t m = left ? vmc_elf_read_run(d, f, left < n - i ? (size_t)left : n - i,
							   out + i * d->page_size) : 0;
			if (m) {
				i += m;
				continue;
			}
		}
		int rc = vmc_read_page(d, pfn + i, out + i * d->page_size);
		if (rc != VMC_OK) {
			*done = i;
			return rc;
		}
		i++;
	}
	*done = n;
	return VMC_OK;
}

int vmc_read_phys(vmc_dump *d, uint64_t paddr, void *buf, size_t len)
{
	uint8_t *out = buf;
	uint64_t ps;

	if (!d->pagebuf)
		return vmc_set_err(d, VMC_ERR_ARG, "dump not opened");
	ps = d->page_size;
	while (len) {
		uint64_t pfn = paddr / ps, off = paddr % ps;
		size_t chunk = (size_t)(ps - off) < len ? (size_t)(ps - off) : len;
		int rc = vmc_read_page(d, pfn, d->pagebuf);

		if (rc != VMC_OK)
			return rc;
		memcpy(out, d->pagebuf + off, chunk);
		out += chunk;
		len -= chunk;
		if (!vmc_add_ok(paddr, chunk, &paddr) && len)
			return vmc_set_err(d, VMC_ERR_ARG, "physical address overflow");
	}
	return VMC_OK;
}

/* The kdump header facts: VMC_ERR_NOTFOUND unless the dump is kdump and
 * has the field (present), else the field in *out. */
#define KDUMP_FACT(fn, type, present, field)                                   \
	int fn(const vmc_dump *d, type *out)                                   \
	{                                                                      \
		if (d->format != VMC_FMT_KDUMP || !(present))                  \
			return VMC_ERR_NOTFOUND;                               \
		*out = d->kd.field;                                            \
		return VMC_OK;                                                 \
	}
KDUMP_FACT(vmc_kdump_dump_level, int, d->kd.version >= 1, dump_level)
KDUMP_FACT(vmc_kdump_header_version, int, true, version)
KDUMP_FACT(vmc_kdump_timestamp, int64_t, d->kd.timestamp != 0, timestamp)
KDUMP_FACT(vmc_kdump_phys_base, uint64_t, true, phys_base)
#undef KDUMP_FACT

const char *vmc_kdump_utsname(const vmc_dump *d, const char *field)
{
	static const char *const names[6] = { "sysname", "nodename", "release",
					      "version", "machine", "domainname" };
	if (d->format != VMC_FMT_KDUMP)
		return NULL;
	for (int i = 0; i < 6; i++)
		if (strcmp(field, names[i]) == 0)
			return d->kd.utsname[i][0] ? d->kd.utsname[i] : NULL;
	return NULL;
}
