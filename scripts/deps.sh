#!/usr/bin/env bash
# Install every build and test dependency from Debian's packages.  Idempotent:
# when everything is installed it only checks and returns.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config clang libclang-rt-14-dev
	libzstd-dev zlib1g-dev liblzo2-dev libsnappy-dev libelf-dev libdwarf-dev libxxhash-dev
	# analyzer: the dump's own BTF (salvage ps/bt without debug packages)
	libbpf-dev
	# fixture generators (tests/tools, independent of the C reader)
	python3 python3-lzo python3-snappy python3-zstandard
	# oracles and interoperability
	makedumpfile crash python3-drgn time
	# make bench: CPU per thread (perf record -e cpu-clock)
	linux-perf
	# the independent reader of tests/interop/libkdumpfile.sh
	python3-libkdumpfile
	# QEMU end-to-end tests (tests/vm)
	qemu-system-x86 busybox-static kmod e2fsprogs cpio zstd xz-utils lz4
	# crash-kernel agent and initramfs: xz modules (liblzma, when the build
	# defines SALVAGE_HAVE_LZMA), the XFS target test (tests/vm/e2e-xfs.sh)
	liblzma-dev xfsprogs
	# dumps over the network (net/): libsodium (keys, handshake, sealed files)
	# and OpenSSL's libcrypto (the AES-256-GCM records), both static in the agent
	libsodium-dev libssl-dev
	# Xen end-to-end test (tests/vm/xen-e2e.sh): kexec-tools' kexec (linked
	# with the Xen libraries) goes into the dom0 initramfs
	kexec-tools
	# salvage archive: the index (SQLite with FTS5; PostgreSQL through libpq,
	# tested against a throw-away cluster)
	libsqlite3-dev sqlite3 libpq-dev postgresql
	# salvage archive report: the HTML is checked in headless Chromium
	chromium
	# the Debian package (make deb) and its admin test in a Debian root
	# (make test-service): debhelper, lintian, mmdebstrap; groff checks the
	# man pages
	debhelper lintian mmdebstrap groff-base
)

missing=()
for p in "${PKGS[@]}"; do
	[[ $p == \#* ]] && continue
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
