/* printk.c - the kernel log (dmesg) from VMCOREINFO alone.
 *
 * Two layouts (docs/formats.md §2.5, §2.8, §3.6):
 *  - 5.10+ lockless printk_ringbuffer (SYMBOL(prb), a pointer): a descriptor
 *    ring (prb_desc: state_var = 2-bit state | 62-bit id, text_blk_lpos) with a
 *    parallel printk_info array, and a text data ring of blocks
 *    "unsigned long id; char text[]";
 *  - 3.5-5.9 variable-length log_buf of struct printk_log records ("struct log"
 *    before 3.11), a record of length 0 marking where the writer wrapped.
 * Each ring is read in bulk (a few vmc_read_virt calls) and walked in memory,
 * after every size, count and index taken from the dump has been checked.
 * Records are chosen exactly as makedumpfile 1.7.2 does (--dump-dmesg), so the
 * formatted output matches it line for line.
 */
#include "internal.h"

#include <stddef.h>
#include <stdlib.h>

#define DESC_STATE_SHIFT 62
#define DESC_ID_MASK ((1ULL << DESC_STATE_SHIFT) - 1)
enum { DESC_RESERVED, DESC_COMMITTED, DESC_FINALIZED, DESC_REUSABLE };
#define DATA_BLK_ID_SIZE 8        /* the unsigned long id heading a data block */
#define MAX_RING_BITS 30          /* count_bits / size_bits accepted */
#define MAX_STRUCT_SIZE 4096      /* SIZE() of any printk structure accepted */
#define MAX_LOG_BUF_LEN (1ULL << 31)  /* the kernel caps log_buf_len at 2 GiB */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- VMCOREINFO keys --------------------------------------------------- */

struct key {
	char kind;            /* 'S' SIZE(), 'O' OFFSET() */
	const char *name;
	size_t at;            /* offsetof the uint64_t it fills */
};
#define KEY(kind, type, field, name) { kind, name, offsetof(type, field) }

static const char *kind_name(char kind)
{
	return kind == 'S' ? "SIZE" : "OFFSET";
}

/* Zero out (size bytes), then fill its uint64_t fields from table t; when
 * keys are missing, the message lists them (as many as fit). */
static int load_keys(vmc_dump *d, const struct key *t, size_t n, void *out, size_t size,
		     const char *prefix, const char *what)
{
	char missing[VMC_ERRMSG_MAX] = "";
	size_t used = 0;
	int nmissing = 0;

	memset(out, 0, size);
	for (size_t i = 0; i < n; i++) {
		char name[128];
		uint64_t v;
		int rc;

		snprintf(name, sizeof(name), "%s%s", prefix, t[i].name);
		rc = t[i].kind == 'S' ? vmc_vmci_size(d, name, &v) : vmc_vmci_offset(d, name, &v);
		if (rc == VMC_ERR_NOTFOUND) {
			int w = snprintf(missing + used, sizeof(missing) - used, "%s%s(%s)",
					 nmissing ? ", " : "", kind_name(t[i].kind), name);
			if (w > 0 && (size_t)w < sizeof(missing) - used)
				used += (size_t)w;
			nmissing++;
			continue;
		}
		if (rc < 0) {
			char key[160];
			snprintf(key, sizeof(key), "%s(%s)", kind_name(t[i].kind), name);
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "dmesg: VMCOREINFO %s=%s is not a number", key,
					   vmc_vmcoreinfo_get(d, key));
		}
		if (v > MAX_STRUCT_SIZE)
			return vmc_set_err(d, VMC_ERR_CORRUPT, "dmesg: implausible %s(%s)=%llu",
					   kind_name(t[i].kind), name, (unsigned long long)v);
		memcpy((char *)out + t[i].at, &v, sizeof(v));
	}
	if (nmissing)
		return vmc_set_err(d, VMC_ERR_NOTFOUND, "dmesg: no %s in VMCOREINFO (needed for the %s)",
				   missing, what);
	return VMC_OK;
}

/* Does a field of width bytes at base + off lie inside a structure of size
 * bytes?  All three come from the dump, so every sum is overflow-checked. */
static bool inside(uint64_t base, uint64_t off, uint64_t width, uint64_t size)
{
	uint64_t a, b;
	return vmc_add_ok(base, off, &a) && vmc_add_ok(a, width, &b) && b <= size;
}

/* A field the readers use: width bytes at base + off of struct st (size bytes). */
struct field {
	const char *name;
	uint64_t base, off, width;
	const char *st;
	uint64_t size;
};

/* Every field inside its structure, else an error naming the first outside. */
static int check_fields(vmc_dump *d, const struct field *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!inside(f[i].base, f[i].off, f[i].width, f[i].size))
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "dmesg: %s (%llu bytes at offset %llu) lies outside SIZE(%s)=%llu",
					   f[i].name, (unsigned long long)f[i].width,
					   (unsigned long long)(f[i].base + f[i].off), f[i].st,
					   (unsigned long long)f[i].size);
	return VMC_OK;
}

/* The dump cannot hold more bytes of kernel memory than its stored pages; any
 * buffer sized from a dump field stays below that. */
static uint64_t dump_bytes(const vmc_dump *d)
{
	uint64_t b;
	if (!vmc_mul_ok(d->pages_present, d->page_size, &b))
		return UINT64_MAX;
	return b;
}

/* Read len bytes of kernel virtual memory at va into a new buffer; VMC_NOPAGE
 * becomes an error here: the log cannot be read without it. */
static int read_buf(vmc_dump *d, uint64_t va, uint64_t len, const char *what, uint8_t **out)
{
	uint8_t *b;
	int rc;

	if (len > dump_bytes(d) || len > SIZE_MAX)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "dmesg: %s of %llu bytes is larger than the dump's memory (%llu bytes)",
				   what, (unsigned long long)len, (unsigned long long)dump_bytes(d));
	b = malloc(len ? (size_t)len : 1);
	if (!b)
		return vmc_set_err(d, VMC_ERR_NOMEM, "out of memory");
	rc = vmc_read_virt(d, va, b, (size_t)len);
	if (rc != VMC_OK) {
		free(b);
		return vmc_prefix_err(d, rc == VMC_NOPAGE ? VMC_ERR_NOTFOUND : rc,
				      "dmesg: %s (%llu bytes at 0x%llx)", what,
				      (unsigned long long)len, (unsigned long long)va);
	}
	*out = b;
	return VMC_OK;
}

/* A little-endian word of size 4 or 8 bytes at va (*v is 0 on failure). */
static int read_word(vmc_dump *d, uint64_t va, const char *what, size_t size, uint64_t *v)
{
	uint8_t b[8];
	int rc = vmc_read_virt(d, va, b, size);

	*v = 0;
	if (rc != VMC_OK)
		return vmc_prefix_err(d, rc == VMC_NOPAGE ? VMC_ERR_NOTFOUND : rc,
				      "dmesg: %s at 0x%llx", what, (unsigned long long)va);
	*v = size == 8 ? le_get64(b) : le_get32(b);
	return VMC_OK;
}

static int read_u64(vmc_dump *d, uint64_t va, const char *what, uint64_t *v)
{
	return read_word(d, va, what, 8, v);
}

static int read_u32(vmc_dump *d, uint64_t va, const char *what, uint32_t *v)
{
	uint64_t w;
	int rc = read_word(d, va, what, 4, &w);
	*v = (uint32_t)w;
	return rc;
}

/* ---- 5.10+ lockless ring ---------------------------------------------- */

struct prb_layout {
	uint64_t rb_size, rb_desc_ring, rb_text_ring;
	uint64_t dr_count_bits, dr_descs, dr_infos, dr_head_id, dr_tail_id;
	uint64_t desc_size, desc_state_var, desc_text_lpos, lpos_begin, lpos_next;
	uint64_t info_size, info_seq, info_ts, info_text_len;
	uint64_t tr_size_bits, tr_data;
	/* optional */
	uint64_t counter;         /* OFFSET(atomic_long_t.counter), 0 if absent */
	bool has_caller;
	uint64_t info_caller;
	bool has_level;           /* facility and level bytes follow text_len */
};

#define K(kind, field, name) KEY(kind, struct prb_layout, field, name)
static const struct key prb_keys[] = {
	K('S', rb_size, "printk_ringbuffer"),
	K('O', rb_desc_ring, "printk_ringbuffer.desc_ring"),
	K('O', rb_text_ring, "printk_ringbuffer.text_data_ring"),
	K('O', dr_count_bits, "prb_desc_ring.count_bits"),
	K('O', dr_descs, "prb_desc_ring.descs"),
	K('O', dr_infos, "prb_desc_ring.infos"),
	K('O', dr_head_id, "prb_desc_ring.head_id"),
	K('O', dr_tail_id, "prb_desc_ring.tail_id"),
	K('S', desc_size, "prb_desc"),
	K('O', desc_state_var, "prb_desc.state_var"),
	K('O', desc_text_lpos, "prb_desc.text_blk_lpos"),
	K('O', lpos_begin, "prb_data_blk_lpos.begin"),
	K('O', lpos_next, "prb_data_blk_lpos.next"),
	K('S', info_size, "printk_info"),
	K('O', info_seq, "printk_info.seq"),
	K('O', info_ts, "printk_info.ts_nsec"),
	K('O', info_text_len, "printk_info.text_len"),
	K('O', tr_size_bits, "prb_data_ring.size_bits"),
	K('O', tr_data, "prb_data_ring.data"),
};
#undef K

static int prb_layout_get(vmc_dump *d, struct prb_layout *L)
{
	int rc = load_keys(d, prb_keys, ARRAY_SIZE(prb_keys), L, sizeof(*L), "",
			   "lockless printk ring buffer");

	if (rc < 0)
		return rc;
	if (vmc_vmci_offset(d, "atomic_long_t.counter", &L->counter) != VMC_OK)
		L->counter = 0;
	if (L->counter > MAX_STRUCT_SIZE)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "dmesg: implausible OFFSET(atomic_long_t.counter)=%llu",
				   (unsigned long long)L->counter);
	L->has_caller = vmc_vmci_offset(d, "printk_info.caller_id", &L->info_caller) == VMC_OK &&
			L->info_caller <= MAX_STRUCT_SIZE;

	if (!L->rb_size || !L->desc_size || !L->info_size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "dmesg: implausible SIZE(printk_ringbuffer)=%llu, SIZE(prb_desc)=%llu or SIZE(printk_info)=%llu",
				   (unsigned long long)L->rb_size, (unsigned long long)L->desc_size,
				   (unsigned long long)L->info_size);
	const struct field f[] = {
		{ "prb_desc_ring.count_bits", L->rb_desc_ring, L->dr_count_bits, 4, "printk_ringbuffer", L->rb_size },
		{ "prb_desc_ring.descs", L->rb_desc_ring, L->dr_descs, 8, "printk_ringbuffer", L->rb_size },
		{ "prb_desc_ring.infos", L->rb_desc_ring, L->dr_infos, 8, "printk_ringbuffer", L->rb_size },
		{ "prb_desc_ring.head_id", L->rb_desc_ring, L->dr_head_id + L->counter, 8, "printk_ringbuffer", L->rb_size },
		{ "prb_desc_ring.tail_id", L->rb_desc_ring, L->dr_tail_id + L->counter, 8, "printk_ringbuffer", L->rb_size },
		{ "prb_data_ring.size_bits", L->rb_text_ring, L->tr_size_bits, 4, "printk_ringbuffer", L->rb_size },
		{ "prb_data_ring.data", L->rb_text_ring, L->tr_data, 8, "printk_ringbuffer", L->rb_size },
		{ "prb_desc.state_var", L->desc_state_var, L->counter, 8, "prb_desc", L->desc_size },
		{ "prb_data_blk_lpos.begin", L->desc_text_lpos, L->lpos_begin, 8, "prb_desc", L->desc_size },
		{ "prb_data_blk_lpos.next", L->desc_text_lpos, L->lpos_next, 8, "prb_desc", L->desc_size },
		{ "printk_info.seq", 0, L->info_seq, 8, "printk_info", L->info_size },
		{ "printk_info.ts_nsec", 0, L->info_ts, 8, "printk_info", L->info_size },
		{ "printk_info.text_len", 0, L->info_text_len, 2, "printk_info", L->info_size },
		{ "printk_info.caller_id", 0, L->has_caller ? L->info_caller : 0, 4, "printk_info", L->info_size },
	};
	/* every SIZE and OFFSET is at most MAX_STRUCT_SIZE (load_keys): the
	 * sums here and in the readers below cannot overflow */
	rc = check_fields(d, f, ARRAY_SIZE(f));
	if (rc < 0)
		return rc;
	/* struct printk_info { u64 seq; u64 ts_nsec; u16 text_len; u8 facility;
	 * u8 flags:5; u8 level:3; u32 caller_id; ... } (5.10+): the facility and
	 * flags/level bytes are not exported; trust them only where the exported
	 * offsets show that layout (caller_id right after them).  Bitfields are
	 * allocated from the low bit on x86_64, so level is the top 3 bits. */
	L->has_level = inside(0, L->info_text_len, 4, L->info_size) &&
		       (!L->has_caller || L->info_caller == L->info_text_len + 4);
	return VMC_OK;
}

struct prb_ring {
	uint8_t *rb, *descs, *infos, *data;
	uint64_t count, size;
	uint64_t head_id, tail_id;
};

static void prb_ring_free(struct prb_ring *r)
{
	free(r->rb);
	free(r->descs);
	free(r->infos);
	free(r->data);
}

static int prb_ring_read(vmc_dump *d, uint64_t sym, const struct prb_layout *L,
			 struct prb_ring *r)
{
	uint64_t prb_va, descs_va, infos_va, data_va, n;
	uint32_t count_bits, size_bits;
	int rc;

	rc = read_u64(d, sym, "pointer prb (SYMBOL(prb))", &prb_va);
	if (rc < 0)
		return rc;
	rc = read_buf(d, prb_va, L->rb_size, "printk_ringbuffer", &r->rb);
	if (rc < 0)
		return rc;
	const uint8_t *dr = r->rb + L->rb_desc_ring, *tr = r->rb + L->rb_text_ring;
	count_bits = le_get32(dr + L->dr_count_bits);
	size_bits = le_get32(tr + L->tr_size_bits);
	if (count_bits > MAX_RING_BITS)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "dmesg: printk_ringbuffer at 0x%llx: desc_ring count_bits %u out of range (at most %d)",
				   (unsigned long long)prb_va, count_bits, MAX_RING_BITS);
	if (size_bits > MAX_RING_BITS)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "dmesg: printk_ringbuffer at 0x%llx: text_data_ring size_bits %u out of range (at most %d)",
				   (unsigned long long)prb_va, size_bits, MAX_RING_BITS);
	r->count = 1ULL << count_bits;
	r->size = 1ULL << size_bits;
	descs_va = le_get64(dr + L->dr_descs);
	infos_va = le_get64(dr + L->dr_infos);
	data_va = le_get64(tr + L->tr_data);
	r->head_id = le_get64(dr + L->dr_head_id + L->counter);
	r->tail_id = le_get64(dr + L->dr_tail_id + L->counter);

	/* count <= 2^30 and sizes <= 4096: these products cannot overflow */
	rc = read_buf(d, descs_va, r->count * L->desc_size, "desc_ring descriptors", &r->descs);
	if (rc < 0)
		return rc;
	rc = read_buf(d, infos_va, r->count * L->info_size, "desc_ring printk_info array", &r->infos);
	if (rc < 0)
		return rc;
	rc = read_buf(d, data_va, r->size, "text_data_ring", &r->data);
	if (rc < 0)
		return rc;

	/* ids are 62 bits; a live ring holds at most count of them */
	if ((r->head_id | r->tail_id) & ~DESC_ID_MASK) {
		vmc_warn(d, "dmesg: printk ring head_id 0x%llx / tail_id 0x%llx have state bits set; masked",
			 (unsigned long long)r->head_id, (unsigned long long)r->tail_id);
		r->head_id &= DESC_ID_MASK;
		r->tail_id &= DESC_ID_MASK;
	}
	n = (r->head_id - r->tail_id) & DESC_ID_MASK;
	if (n >= r->count) {
		vmc_warn(d, "dmesg: printk ring tail_id 0x%llx is %llu ids behind head_id 0x%llx (ring of %llu); reading the last %llu",
			 (unsigned long long)r->tail_id, (unsigned long long)n,
			 (unsigned long long)r->head_id, (unsigned long long)r->count,
			 (unsigned long long)r->count);
		r->tail_id = (r->head_id - r->count + 1) & DESC_ID_MASK;
	}
	return VMC_OK;
}

/* One descriptor, as makedumpfile's dump_record() reads it.  Returns false
 * when the record is skipped. */
static bool prb_record(const struct prb_layout *L, const struct prb_ring *r, uint64_t id,
		       struct vmc_logrec *rec)
{
	uint64_t slot = id & (r->count - 1);
	const uint8_t *desc = r->descs + slot * L->desc_size;
	const uint8_t *info = r->infos + slot * L->info_size;
	uint64_t sv = le_get64(desc + L->desc_state_var + L->counter);
	uint64_t state = sv >> DESC_STATE_SHIFT;
	uint64_t begin, next, text_len;

	if ((sv & DESC_ID_MASK) != id || (state != DESC_COMMITTED && state != DESC_FINALIZED))
		return false;
	begin = le_get64(desc + L->desc_text_lpos + L->lpos_begin) & (r->size - 1);
	next = le_get64(desc + L->desc_text_lpos + L->lpos_next) & (r->size - 1);
	if (begin == next)
		return false;   /* data-less record (FAILED_LPOS, EMPTY_LINE_LPOS) */
	if (next == 0)
		/* 6.19+ (commit 67e1b0052f6b "don't needlessly wrap data blocks
		 * around"): a block may end exactly at the end of the ring.
		 * Before it, next % size is never 0 (a wrapped block's data
		 * starts at 0 and holds at least its id). */
		next = r->size;
	else if (begin > next)
		begin = 0;      /* wrapped: the data is stored at the ring's start */
	if (next - begin < DATA_BLK_ID_SIZE)
		return false;   /* no room for the block id: corrupt, skip */
	begin += DATA_BLK_ID_SIZE;
	text_len = le_get16(info + L->info_text_len);
	if (text_len > next - begin)
		text_len = next - begin;   /* truncated record */

	rec->seq = le_get64(info + L->info_seq);
	rec->ts_nsec = le_get64(info + L->info_ts);
	rec->caller_id = L->has_caller ? le_get32(info + L->info_caller) : 0;
	rec->facility = L->has_level ? info[L->info_text_len + 2] : -1;
	rec->level = L->has_level ? info[L->info_text_len + 3] >> 5 : -1;
	rec->text = (const char *)r->data + begin;
	rec->text_len = (size_t)text_len;
	return true;
}

static int dmesg_lockless(vmc_dump *d, uint64_t sym, vmc_log_emit emit, void *arg)
{
	struct prb_layout L;
	struct prb_ring r = { 0 };
	int rc = prb_layout_get(d, &L);

	if (rc < 0)
		return rc;
	rc = prb_ring_read(d, sym, &L, &r);
	if (rc < 0)
		goto out;
	/* tail_id .. head_id inclusive, ids wrapping at 62 bits */
	for (uint64_t id = r.tail_id;; id = (id + 1) & DESC_ID_MASK) {
		struct vmc_logrec rec;
		if (prb_record(&L, &r, id, &rec)) {
			rc = emit(arg, &rec);
			if (rc)
				break;
		}
		if (id == r.head_id)
			break;
	}
out:
	prb_ring_free(&r);
	return rc;
}

/* ---- 3.5-5.9 variable-length log_buf ----------------------------------- */

struct log_layout {
	uint64_t hdr_size, off_ts, off_len, off_text_len;
	bool has_dict, has_caller, has_level;
	uint64_t off_dict_len, off_caller;
};

static const struct key log_keys[] = {
	KEY('S', struct log_layout, hdr_size, ""),
	KEY('O', struct log_layout, off_ts, ".ts_nsec"),
	KEY('O', struct log_layout, off_len, ".len"),
	KEY('O', struct log_layout, off_text_len, ".text_len"),
};

static int log_layout_get(vmc_dump *d, struct log_layout *L)
{
	/* "struct log" was renamed "struct printk_log" in 3.11 */
	const char *st = vmc_vmcoreinfo_get(d, "SIZE(printk_log)") || !vmc_vmcoreinfo_get(d, "SIZE(log)")
			 ? "printk_log" : "log";
	char name[64];
	int rc;

	rc = load_keys(d, log_keys, ARRAY_SIZE(log_keys), L, sizeof(*L), st,
		       "variable-length log_buf");
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "%s.dict_len", st);
	L->has_dict = vmc_vmci_offset(d, name, &L->off_dict_len) == VMC_OK;
	snprintf(name, sizeof(name), "%s.caller_id", st);
	L->has_caller = vmc_vmci_offset(d, name, &L->off_caller) == VMC_OK;
	if (!L->hdr_size || L->hdr_size > 256)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "dmesg: implausible SIZE(%s)=%llu", st,
				   (unsigned long long)L->hdr_size);
	const struct field f[] = {
		{ "ts_nsec", 0, L->off_ts, 8, st, L->hdr_size },
		{ "len", 0, L->off_len, 2, st, L->hdr_size },
		{ "text_len", 0, L->off_text_len, 2, st, L->hdr_size },
		/* ts_nsec inside makes hdr_size at least 8: offset 0 passes */
		{ "caller_id", 0, L->has_caller ? L->off_caller : 0, 4, st, L->hdr_size },
	};
	rc = check_fields(d, f, ARRAY_SIZE(f));
	if (rc < 0)
		return rc;
	/* { u64 ts_nsec; u16 len, text_len, dict_len; u8 facility; u8 flags:5,
	 * level:3; [u32 caller_id;] }: the facility/level bytes follow dict_len */
	L->has_level = L->has_dict && L->off_dict_len == L->off_text_len + 2 &&
		       inside(0, L->off_dict_len, 4, L->hdr_size) &&
		       (!L->has_caller || L->off_caller == L->off_dict_len + 4);
	return VMC_OK;
}

struct log_walk {
	const struct log_layout *L;
	const uint8_t *buf;
	uint32_t len, first, next;
};

/* Follow the records from log_first_idx to log_next_idx, passing at most max
 * of them to emit (none when emit is NULL); *n counts the records read.  A
 * zero len marks the writer's wrap: the record is the one at the buffer's
 * start.  Every record advances by its length, so more than len bytes walked
 * means the chain never reaches log_next_idx. */
static int log_walk(vmc_dump *d, const struct log_walk *w, uint64_t max,
		    vmc_log_emit emit, void *arg, uint64_t *n, bool *lost)
{
	const struct log_layout *L = w->L;
	uint64_t walked = 0;
	uint32_t idx = w->first;

	*n = 0;
	*lost = false;
	while (idx != w->next && *n < max) {
		const uint8_t *h;
		uint32_t reclen, text_len;
		struct vmc_logrec rec;
		int rc;

		if (idx > w->len - L->hdr_size)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "dmesg: log_buf record index %u beyond log_buf_len %u",
					   idx, w->len);
		reclen = le_get16(w->buf + idx + L->off_len);
		if (reclen == 0) {
			walked += w->len - idx;
			idx = 0;
			if (idx == w->next)
				break;
			reclen = le_get16(w->buf + L->off_len);
		}
		h = w->buf + idx;
		if (reclen < L->hdr_size || reclen > w->len - idx)
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "dmesg: log_buf record at index %u: length %u does not fit (header %llu, log_buf_len %u)",
					   idx, reclen, (unsigned long long)L->hdr_size, w->len);
		walked += reclen;
		if (walked > (uint64_t)w->len + L->hdr_size) {
			*lost = true;
			return vmc_set_err(d, VMC_ERR_CORRUPT,
					   "dmesg: log_buf records from log_first_idx %u never reach log_next_idx %u",
					   w->first, w->next);
		}
		if (emit) {
			text_len = le_get16(h + L->off_text_len);
			if (text_len > reclen - L->hdr_size)
				text_len = reclen - (uint32_t)L->hdr_size;
			rec.seq = *n;   /* log_first_seq is not exported: count from 0 */
			rec.ts_nsec = le_get64(h + L->off_ts);
			rec.caller_id = L->has_caller ? le_get32(h + L->off_caller) : 0;
			rec.facility = L->has_level ? h[L->off_dict_len + 2] : -1;
			rec.level = L->has_level ? h[L->off_dict_len + 3] >> 5 : -1;
			rec.text = (const char *)h + L->hdr_size;
			rec.text_len = text_len;
			rc = emit(arg, &rec);
			if (rc)
				return rc;
		}
		(*n)++;
		idx += reclen;
	}
	return VMC_OK;
}

static int dmesg_logbuf(vmc_dump *d, uint64_t sym_buf, vmc_log_emit emit, void *arg)
{
	struct log_layout L;
	struct log_walk w;
	uint64_t sym_len, sym_first, sym_next, buf_va, good, n;
	uint32_t len, first, next;
	uint8_t *buf = NULL;
	bool lost;
	int rc, rc2;

	if (vmc_vmcoreinfo_get(d, "SYMBOL(log_end)"))
		return vmc_set_err(d, VMC_ERR_UNSUPPORTED,
				   "dmesg: the pre-3.5 character log_buf (SYMBOL(log_end)) is not supported");
	if (vmc_vmci_symbol(d, "log_buf_len", &sym_len) != VMC_OK ||
	    vmc_vmci_symbol(d, "log_first_idx", &sym_first) != VMC_OK ||
	    vmc_vmci_symbol(d, "log_next_idx", &sym_next) != VMC_OK)
		return vmc_set_err(d, VMC_ERR_NOTFOUND,
				   "dmesg: SYMBOL(log_buf) without SYMBOL(log_buf_len), SYMBOL(log_first_idx) and SYMBOL(log_next_idx) in VMCOREINFO");
	rc = log_layout_get(d, &L);
	if (rc < 0)
		return rc;
	if ((rc = read_u64(d, sym_buf, "pointer log_buf", &buf_va)) < 0 ||
	    (rc = read_u32(d, sym_len, "log_buf_len", &len)) < 0 ||
	    (rc = read_u32(d, sym_first, "log_first_idx", &first)) < 0 ||
	    (rc = read_u32(d, sym_next, "log_next_idx", &next)) < 0)
		return rc;
	if (len > MAX_LOG_BUF_LEN || len < L.hdr_size)
		return vmc_set_err(d, VMC_ERR_CORRUPT, "dmesg: log_buf_len %u out of range", len);
	if (first > len - L.hdr_size || next > len - L.hdr_size)
		return vmc_set_err(d, VMC_ERR_CORRUPT,
				   "dmesg: log_first_idx %u or log_next_idx %u beyond log_buf_len %u",
				   first, next, len);
	rc = read_buf(d, buf_va, len, "log_buf", &buf);
	if (rc < 0)
		return rc;
	/* Walk once without output: a record with a bad length ends the log
	 * after the good ones (then the error), but a chain that never reaches
	 * log_next_idx means the indices are wrong: nothing is trusted. */
	w = (struct log_walk){ &L, buf, len, first, next };
	rc = log_walk(d, &w, UINT64_MAX, NULL, NULL, &good, &lost);
	if (!lost) {
		rc2 = log_walk(d, &w, good, emit, arg, &n, &lost);
		if (rc2)
			rc = rc2;
	}
	free(buf);
	return rc;
}

int vmc_dmesg(vmc_dump *d, vmc_log_emit emit, void *arg)
{
	static const struct {
		const char *sym;
		int (*read)(vmc_dump *d, uint64_t sym, vmc_log_emit emit, void *arg);
	} rings[] = { { "prb", dmesg_lockless }, { "log_buf", dmesg_logbuf } };
	uint64_t sym;
	int rc;

	if (!d || !emit)
		return VMC_ERR_ARG;
	if (!vmc_vmcoreinfo_count(d))
		return vmc_set_err(d, VMC_ERR_NOTFOUND,
				   "dmesg: no VMCOREINFO in the dump (the kernel log is found through it)");
	/* the lockless ring (5.10+) first, then log_buf */
	for (size_t i = 0; i < ARRAY_SIZE(rings); i++) {
		char key[32];

		rc = vmc_vmci_symbol(d, rings[i].sym, &sym);
		if (rc == VMC_OK)
			return rings[i].read(d, sym, emit, arg);
		snprintf(key, sizeof(key), "SYMBOL(%s)", rings[i].sym);
		if (rc != VMC_ERR_NOTFOUND)
			return vmc_set_err(d, VMC_ERR_CORRUPT, "dmesg: %s=%s is not an address",
					   key, vmc_vmcoreinfo_get(d, key));
	}
	return vmc_set_err(d, VMC_ERR_NOTFOUND,
			   "dmesg: no printk ring buffer symbols (SYMBOL(prb) or SYMBOL(log_buf)) in VMCOREINFO");
}

/* ---- formatting ----------------------------------------------------------- */

struct out {
	char *buf;
	size_t cap, pos;      /* cap = room for text, excluding the NUL */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->pos)
		n = o->cap - o->pos;
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
}

size_t vmc_logrec_format(const struct vmc_logrec *rec, char *buf, size_t len)
{
	char pre[48], indent[48], esc[16];
	struct out o = { buf, len ? len - 1 : 0, 0 };
	int plen;

	if (!len)
		return 0;
	/* seconds < 2^64 / 10^9: at most 11 digits, so plen < sizeof(pre) */
	plen = snprintf(pre, sizeof(pre), "[%5llu.%06llu] ",
			(unsigned long long)(rec->ts_nsec / 1000000000),
			(unsigned long long)(rec->ts_nsec % 1000000000 / 1000));
	memset(indent, ' ', sizeof(indent));
	put(&o, pre, (size_t)plen);
	for (size_t i = 0; i < rec->text_len && o.pos < o.cap; i++) {
		unsigned char c = (unsigned char)rec->text[i];
		if (c == '\n') {
			/* continuation lines are indented under the text */
			put(&o, "\n", 1);
			put(&o, indent, (size_t)plen);
		} else if ((c >= 0x20 && c < 0x7f) || (c >= '\t' && c <= '\r')) {
			/* isprint() || isspace() in the C locale */
			put(&o, (const char *)&c, 1);
		} else {
			/* makedumpfile prints the plain (signed) char with "\\x%02x",
			 * so bytes from 0x80 up come out sign-extended: \xffffffc3 */
			int n = snprintf(esc, sizeof(esc), "\\x%02x",
					 c >= 0x80 ? 0xffffff00u | c : (unsigned)c);
			put(&o, esc, (size_t)n);
		}
	}
	put(&o, "\n", 1);
	buf[o.pos] = 0;
	return o.pos;
}
