"""azexpect.py DESC DUMP EXPECT.json - build an analyzer fixture with
mkdump.py and write what `salvage sym/bt/ps/sys` must answer (ktask.py)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkdump  # noqa: E402


def main():
    desc, out, expect = sys.argv[1:4]
    with open(desc) as f:
        text = mkdump.expand_includes(f.read(), os.path.dirname(desc))
    try:
        d, b, _ = mkdump.build(text)
    except mkdump.DescError as e:
        print("azexpect: %s: %s" % (desc, e), file=sys.stderr)
        return 2
    with open(out, "wb") as f:
        f.write(b.data)
    with open(expect, "w") as f:
        json.dump(getattr(d, "az_expect", None), f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
