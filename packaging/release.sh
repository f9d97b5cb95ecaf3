#!/usr/bin/env bash
# Makes an isoscope release: bump the version, build the wheel and sdist from what is committed, check them.
#
#   bash packaging/release.sh bump 0.2.0     # isoscope/__init__.py and CHANGELOG.md ("Unreleased" -> 0.2.0)
#   bash packaging/release.sh build          # dist/isoscope-V.tar.gz and dist/isoscope-V-py3-none-any.whl
#   bash packaging/release.sh check [--reuse-env PY]   # contents, then a fresh venv: install, train a part
#
# build exports HEAD with `git archive`, so uncommitted files never end up in a release. check installs
# the wheel into a new virtual environment with its dependencies from the package index (pip's cache
# makes a repeat cheap); --reuse-env PY installs only isoscope and borrows PY's packages instead.
# After check: git commit -m "Release V" && git tag vV, then publish dist/* and attach them to the tag.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

die() { echo "release.sh: error: $*" >&2; exit 2; }
version() { sed -n 's/^__version__ = "\(.*\)"$/\1/p' isoscope/__init__.py; }

bump() {
  local new=${1:-}
  [[ "$new" =~ ^[0-9]+\.[0-9]+\.[0-9]+([ab]|rc)?[0-9]*$ ]] || die "give a version like 0.2.0"
  local old
  old=$(version)
  if [ "$new" = "$old" ] && grep -q "^## $new\b" CHANGELOG.md; then die "$new is already released"; fi
  grep -q '^## Unreleased' CHANGELOG.md || die "CHANGELOG.md has no '## Unreleased' section to release"
  sed -i "s/^__version__ = \".*\"$/__version__ = \"$new\"/" isoscope/__init__.py
  sed -i "s/^## Unreleased.*$/## Unreleased\n\n## $new - $(date +%Y-%m-%d)/" CHANGELOG.md
  echo "release.sh: $old -> $new; review CHANGELOG.md, then commit isoscope/__init__.py and CHANGELOG.md"
}

build() {
  command -v git >/dev/null || die "git is needed"
  "$PY" -c 'import build' 2>/dev/null || die "$PY has no 'build' module (pip install build)"
  if ! git diff --quiet HEAD -- isoscope/__init__.py CHANGELOG.md pyproject.toml; then
    die "commit isoscope/__init__.py, CHANGELOG.md and pyproject.toml first: the release is built from HEAD"
  fi
  local v tmp
  v=$(version)
  grep -q "^## $v\b" CHANGELOG.md || die "CHANGELOG.md has no '## $v' section (run: release.sh bump $v)"
  tmp=$(mktemp -d)
  git archive --format=tar HEAD | tar -x -C "$tmp"
  mkdir -p dist
  rm -f "dist/isoscope-$v.tar.gz" "dist/isoscope-$v-py3-none-any.whl"
  if ! "$PY" -m build --outdir "$PWD/dist" "$tmp" >"$tmp.log" 2>&1; then
    tail -30 "$tmp.log"
    rm -rf "$tmp" "$tmp.log"
    die "build failed"
  fi
  rm -rf "$tmp" "$tmp.log"
  ls -l "dist/isoscope-$v.tar.gz" "dist/isoscope-$v-py3-none-any.whl"
}

check() {
  local reuse=""
  if [ "${1:-}" = --reuse-env ]; then reuse=${2:?--reuse-env needs an interpreter}; fi
  local v wheel sdist venv out
  v=$(version)
  wheel=dist/isoscope-$v-py3-none-any.whl
  sdist=dist/isoscope-$v.tar.gz
  if [ ! -f "$wheel" ] || [ ! -f "$sdist" ]; then die "no $wheel / $sdist (run: release.sh build)"; fi
  "$PY" - "$wheel" "$sdist" "$v" <<'EOF'
import sys, tarfile, zipfile
wheel, sdist, version = sys.argv[1:]
names = set(zipfile.ZipFile(wheel).namelist())
need = ["isoscope/resources/parts/sphere.stl", "isoscope/resources/parts/bracket.stl", "isoscope/resources/icons/isoscope.svg",
        "isoscope/resources/icons/isoscope-256.png", "isoscope/resources/icons/isoscope-16.png", "isoscope/core/cli.py",
        "isoscope/app/main.py"]
missing = [n for n in need if n not in names]
meta = zipfile.ZipFile(wheel).read(f"isoscope-{version}.dist-info/entry_points.txt").decode()
missing += [s for s in ("isoscope =", "isoscope-train =", "isoscope-inspect =") if s not in meta]
snames = {n.split("/", 1)[-1] for n in tarfile.open(sdist).getnames()}
missing += [f"sdist:{n}" for n in ("pyproject.toml", "resources/parts/sphere.stl", "resources/icons/isoscope.svg")
            if n not in snames]
if missing:
    sys.exit(f"release.sh: error: missing from the release: {', '.join(missing)}")
print(f"release.sh: {wheel}: {len(names)} files, resources and entry points present")
EOF
  venv=$(mktemp -d)/venv
  out=$(dirname "$venv")/run
  "$PY" -m venv "$venv"
  if [ -n "$reuse" ]; then
    "$reuse" -c 'import site; print("\n".join(site.getsitepackages()))' \
      > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/reused.pth"
    "$venv/bin/pip" install -q --no-deps "$wheel"
  else
    "$venv/bin/pip" install -q "$wheel"
  fi
  "$venv/bin/isoscope-train" --version | grep -qx "isoscope-train $v" || die "isoscope-train --version is not $v"
  local part
  part=$("$venv/bin/python" -c 'from isoscope import resources; print(resources.sample_parts()[0])')
  "$venv/bin/isoscope-train" "$part" --preset tiny --device cpu --outputDir "$out" --quiet
  [ -f "$out/summary.json" ] || die "the trial run wrote no summary.json"
  echo "release.sh: a fresh environment installs $wheel and trains $(basename "$part"); ready to tag v$v"
  rm -rf "$(dirname "$venv")"
}

case "${1:-}" in
  bump) bump "${2:-}" ;;
  build) build ;;
  check) shift; check "$@" ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
