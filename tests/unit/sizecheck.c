/* sizecheck - print what the shared number and size parser (config.h:
 * cfg_parse_size, cfg_parse_uint) makes of each argument, one line each:
 *
 *   SPELLING size=VALUE|einval|erange uint=VALUE|einval|erange
 *
 * tests/config-test.sh compares the lines with a table of its own. */
#include "../../config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static void show(const char *what, int rc, uint64_t v)
{
	if (rc == 0)
		printf(" %s=%" PRIu64, what, v);
	else
		printf(" %s=%s", what, rc == -EINVAL ? "einval" : rc == -ERANGE ? "erange" : "other");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		uint64_t v = 0;
		int rc;
		printf("%s", argv[i]);
		rc = cfg_parse_size(argv[i], &v);
		show("size", rc, v);
		rc = cfg_parse_uint(argv[i], &v);
		show("uint", rc, v);
		putchar('\n');
	}
	return 0;
}
