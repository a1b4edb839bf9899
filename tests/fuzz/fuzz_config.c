/* fuzz_config - libFuzzer harness: the agent's configuration parser
 * (config/config.c) on a file's text and on a kernel command line.  The
 * first byte picks which; a value the parser accepts must print back to a
 * value it reads again unchanged, as mkinitramfs relies on. */
#include "../../config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg c, again;
	const struct cfg_key *keys;
	char v[CFG_LINE_MAX + 1], q[CFG_LINE_MAX + 3];
	size_t n;

	if (size < 1)
		return 0;
	cfg_defaults(&c);
	if (data[0] & 1) {
		char *line = malloc(size);

		if (!line)
			return 0;
		memcpy(line, data + 1, size - 1);
		line[size - 1] = 0;
		cfg_parse_cmdline(&c, line, NULL, NULL);
		free(line);
	} else {
		cfg_parse_text(&c, (const char *)data + 1, size - 1, NULL, NULL);
	}
	/* every value round-trips through the line mkinitramfs would write */
	keys = cfg_keys(&n);
	cfg_defaults(&again);
	for (size_t i = 0; i < n; i++) {
		char line[CFG_LINE_MAX + 64], w[CFG_LINE_MAX + 1];
		int len;

		cfg_value(&c, &keys[i], v, sizeof(v));
		if (cfg_quote(v, q, sizeof(q)) < 0)
			abort();
		len = snprintf(line, sizeof(line), "%s=%s\n", keys[i].name, q);
		if (len < 0 || (size_t)len >= sizeof(line) ||
		    cfg_parse_text(&again, line, (size_t)len, NULL, NULL) != 0)
			abort();
		cfg_value(&again, &keys[i], w, sizeof(w));
		if (strcmp(v, w))
			abort();
	}
	return 0;
}
