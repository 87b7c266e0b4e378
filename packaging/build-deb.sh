#!/usr/bin/env bash
# Build the Debian package of superlance with cargo-deb.
#
#   packaging/build-deb.sh        # prints the .deb's path as its last line
#
# 1. installs cargo-deb (pinned below) with `cargo install --locked` unless that version is
#    already on PATH;
# 2. builds the release binary (`cargo build --release --locked`);
# 3. generates into target/assets/ what the package ships but the repository does not commit,
#    all from the binary itself: a symlink per listener (names from `superlance --list`, so a
#    new listener needs no change here), a man page per listener plus superlance(1)
#    (`--generate man`), and bash, zsh and fish completions for superlance and for each listener
#    name (`--generate completion`);
# 4. runs `cargo deb --no-build`, which packs them as [package.metadata.deb] in Cargo.toml says.
#
# The result is target/debian/superlance_<version>-1_<arch>.deb (under CARGO_TARGET_DIR if
# set). target/assets/ is always under the repository: cargo-deb reads asset paths relative
# to it. docs/packaging.md describes the package.
#
# Environment: SOURCE_DATE_EPOCH (default: the time of the last commit) dates the files in
# the package, so that the same commit gives the same package.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0

say() { echo "build-deb: $*" >&2; }

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    say "installing cargo-deb $CARGO_DEB_VERSION (cargo install --locked; a few minutes)"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi

say "building the release binary"
cargo build --release --locked --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/release/superlance
[ -x "$bin" ] || { say "no binary at $bin after cargo build"; exit 1; }

if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
    export SOURCE_DATE_EPOCH
fi

assets=target/assets
say "generating links, man pages and completions into $assets/"
rm -rf "$assets"
mkdir -p "$assets/bin" "$assets/man" "$assets/bash" "$assets/zsh" "$assets/fish"
names=$("$bin" --list)
[ -n "$names" ] || { say "superlance --list printed no listener"; exit 1; }
for name in $names; do
    # Relative, so that the link in /usr/bin points at /usr/bin/superlance wherever the
    # package is unpacked.
    ln -s superlance "$assets/bin/$name"
done
for name in superlance $names; do
    "$bin" --generate man "$name" >"$assets/man/$name.1"
    # The names bash-completion, zsh and fish look for when completing the command `name`.
    "$bin" --generate completion bash "$name" >"$assets/bash/$name"
    "$bin" --generate completion zsh "$name" >"$assets/zsh/_$name"
    "$bin" --generate completion fish "$name" >"$assets/fish/$name.fish"
done

# Debian's changelog (policy 12.7; lintian's no-changelog): one entry for this version, so it
# never goes stale. The maintainer is the one [package.metadata.deb] names.
version=$("$bin" --version | cut -d' ' -f2)
maintainer=$(cargo metadata --format-version 1 --no-deps | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["packages"][0]["metadata"]["deb"]["maintainer"])')
{
    echo "superlance ($version-1) unstable; urgency=medium"
    echo
    echo "  * superlance $version, packaged by packaging/build-deb.sh (cargo-deb)."
    echo
    echo " -- $maintainer  $(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")"
} >"$assets/changelog"

say "packing with cargo-deb $CARGO_DEB_VERSION"
deb=$(cargo deb --no-build --quiet)
[ -f "$deb" ] || { say "cargo deb did not report a package file (got: $deb)"; exit 1; }
say "built $deb ($(du -k "$deb" | cut -f1) KiB)"
echo "$deb"
