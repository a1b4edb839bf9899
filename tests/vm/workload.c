/*
 * workload: hold anonymous memory of mixed content, then crash the kernel.
 * Built static and placed into the first-boot initramfs by
 * tests/vm/make-vmcore.sh --workload MIB, after the crash kernel is armed.
 *
 *   workload MIB [SEED]
 *
 * Fills MIB MiB of malloc'ed memory page by page, the kind of each page
 * drawn from a fixed-seed generator (so every run makes the same mix):
 *
 *   15%  zero pages (touched, then cleared: real zero pages in the dump)
 *   15%  nearly empty buffers: a short header, the rest zeros
 *   25%  repeated patterned pages: one of 24 record layouts, byte-identical
 *        copies (what de-duplication can find)
 *   25%  text: words from a small vocabulary; one page in three is a copy
 *        of one of 32 stock text pages, the others unique
 *   20%  random bytes (incompressible)
 *
 * Then it prints "SALVAGE: workload ready", writes "c" to
 * /proc/sysrq-trigger and so crashes with its memory still mapped: the dump
 * holds those pages as user data (excluded by -d 31, kept by -d 1).
 *
 * Exit status (only when the crash did not happen): 1 on a failed
 * allocation or sysrq write, 2 on usage errors.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static const char *const words[] = {
	"the", "kernel", "page", "memory", "process", "request", "server", "buffer",
	"connection", "timeout", "error", "user", "session", "cache", "value", "index",
	"table", "record", "thread", "queue", "header", "length", "status", "client",
	"GET", "POST", "200", "404", "/api/v1/items", "Content-Type:", "application/json",
	"{\"id\":", "\"name\":", "\"count\":", "null", "true", "false", "INFO", "WARN",
	"2026-12-06T07:15:00Z", "worker", "started", "finished", "in", "ms", "of", "and",
};

static void fill_text(uint8_t *p, uint64_t seed)
{
	uint64_t saved = rng_state;
	size_t n = 0;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	while (n < PAGE) {
		const char *w = words[rng() % (sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);
		if (n + l + 1 > PAGE)
			l = PAGE - n - 1;
		memcpy(p + n, w, l);
		n += l;
		p[n++] = (rng() % 9) ? ' ' : '\n';
	}
	rng_state = saved;
}

static void fill_pattern(uint8_t *p, unsigned kind)
{
	/* records of 16 << (kind % 4) bytes: a counter, the kind, constant
	 * fields; the same kind always gives the same page */
	size_t rec = (size_t)16 << (kind % 4);
	for (size_t off = 0; off < PAGE; off += rec) {
		uint64_t f[4] = { off / rec, kind, 0xfeedULL * (kind + 1), 0 };
		memset(p + off, (int)(kind * 7), rec);
		memcpy(p + off, f, rec < sizeof(f) ? rec : sizeof(f));
	}
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long mib;
	uint8_t stock[32][PAGE];

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: workload MIB [SEED]\n");
		return 2;
	}
	mib = strtoul(argv[1], &end, 10);
	if (*end || mib == 0 || mib > (1UL << 20)) {
		fprintf(stderr, "workload: bad MIB %s\n", argv[1]);
		return 2;
	}
	rng_state = argc == 3 ? strtoull(argv[2], NULL, 0) | 1 : 0x5A17A6E5ULL;

	size_t pages = mib * (1024 * 1024 / PAGE);
	uint8_t *mem = malloc(pages * PAGE);
	if (!mem) {
		fprintf(stderr, "workload: cannot allocate %lu MiB\n", mib);
		return 1;
	}
	for (unsigned i = 0; i < 32; i++)
		fill_text(stock[i], 1000000 + i);

	unsigned long counts[5] = { 0 };
	for (size_t i = 0; i < pages; i++) {
		uint8_t *p = mem + i * PAGE;
		unsigned r = (unsigned)(rng() % 100);
		if (r < 15) {
			p[0] = 1;               /* fault the page in, then clear it */
			memset(p, 0, PAGE);
			counts[0]++;
		} else if (r < 30) {
			memset(p, 0, PAGE);
			snprintf((char *)p, 128, "buf %zu len 0 state idle owner %u", i,
				 (unsigned)(rng() % 4096));
			counts[1]++;
		} else if (r < 55) {
			fill_pattern(p, (unsigned)(rng() % 24));
			counts[2]++;
		} else if (r < 80) {
			uint64_t s = rng();
			if (s % 3 == 0)
				memcpy(p, stock[(s >> 8) % 32], PAGE);
			else
				fill_text(p, s);
			counts[3]++;
		} else {
			for (size_t off = 0; off < PAGE; off += 8) {
				uint64_t v = rng();
				memcpy(p + off, &v, 8);
			}
			counts[4]++;
		}
	}
	printf("SALVAGE: workload ready: %lu MiB, pages zero %lu, sparse %lu, pattern %lu, "
	       "text %lu, random %lu\n", mib, counts[0], counts[1], counts[2], counts[3],
	       counts[4]);
	fflush(stdout);
	sync();

	int fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "c", 1) != 1) {
		perror("workload: /proc/sysrq-trigger");
		return 1;
	}
	/* not reached: the kernel panics on the write */
	pause();
	return 1;
}
