#!/usr/bin/env bash
# Installs isoscope for the current user as a desktop application, in its own Python environment.
#
#   bash packaging/install.sh                      # from this checkout; dependencies from PyPI
#   bash packaging/install.sh --wheel dist/isoscope-0.2.0-py3-none-any.whl
#   bash packaging/install.sh --spec "isoscope==0.2.0"   # from a package index
#   bash packaging/uninstall.sh [--purge]          # removes all of it again
#
# What it writes (XDG_DATA_HOME defaults to ~/.local/share, XDG_BIN_HOME to ~/.local/bin):
#   $XDG_DATA_HOME/isoscope/venv                   a private virtual environment with isoscope in it
#   $XDG_DATA_HOME/isoscope/install-manifest.txt   every path below, for uninstall.sh
#   $XDG_DATA_HOME/isoscope/uninstall.sh           a copy, so the checkout is not needed to remove it
#   $XDG_BIN_HOME/isoscope                         launcher; isoscope-train/-inspect/-bench as links
#   $XDG_DATA_HOME/applications/isoscope.desktop   the menu entry (opens STL files, two actions)
#   $XDG_DATA_HOME/icons/hicolor/*/apps/isoscope.{png,svg}
# Runs go to $XDG_DATA_HOME/isoscope/runs (the window's default) and survive an uninstall unless --purge.
#
# Options:
#   --wheel FILE        install this wheel instead of the checkout
#   --spec REQ          install this pip requirement instead of the checkout (e.g. "isoscope==0.2.0")
#   --extras LIST       extras to install with it, e.g. "gpu" (NVIDIA memory readings)
#   --python PY         interpreter that makes the environment (default: python3; 3.10 or newer)
#   --reuse-env PY      do not download dependencies: the new environment sees PY's installed packages and
#                       only isoscope itself is installed (no dependencies). For tests and offline machines.
#   --force             replace launchers in the bin folder that this installer did not write
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(dirname "$HERE")
PY=python3
WHEEL=""
SPEC=""
EXTRAS=""
REUSE=""
FORCE=0

die() { echo "install.sh: error: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) [ $# -ge 2 ] || die "--wheel needs a file"; WHEEL=$2; shift 2 ;;
    --spec) [ $# -ge 2 ] || die "--spec needs a requirement"; SPEC=$2; shift 2 ;;
    --extras) [ $# -ge 2 ] || die "--extras needs a list"; EXTRAS=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PY=$2; shift 2 ;;
    --reuse-env) [ $# -ge 2 ] || die "--reuse-env needs an interpreter"; REUSE=$2; PY=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "${HOME:-}" ] || die "HOME is not set"
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
BIN=${XDG_BIN_HOME:-$HOME/.local/bin}
APPDIR=$DATA/isoscope
VENV=$APPDIR/venv
MANIFEST=$APPDIR/install-manifest.txt
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor
case "$BIN$DATA" in
  *[\"\`\$\\%]*) die "paths with \", \`, \$, \\ or % cannot go into a desktop entry: $BIN, $DATA" ;;
esac

command -v "$PY" >/dev/null 2>&1 || die "no Python interpreter '$PY' (pass --python)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than Python 3.10"
"$PY" -c 'import venv, ensurepip' 2>/dev/null || die "$PY cannot make virtual environments (Debian: apt install python3-venv)"
if [ -n "$WHEEL" ]; then
  [ -f "$WHEEL" ] || die "no such wheel: $WHEEL"
  WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
  TARGET=$WHEEL
elif [ -n "$SPEC" ]; then
  TARGET=$SPEC
else
  [ -f "$SRC/pyproject.toml" ] || die "$SRC is not an isoscope checkout; pass --wheel or --spec"
  TARGET=$SRC
fi
[ -z "$EXTRAS" ] || TARGET="${TARGET}[${EXTRAS}]"

# Never overwrite a command someone else put in the bin folder (e.g. a pip --user install of isoscope).
MARK="written by isoscope's packaging/install.sh"
if [ "$FORCE" = 0 ]; then
  for f in "$BIN/isoscope" "$BIN/isoscope-train" "$BIN/isoscope-inspect" "$BIN/isoscope-bench"; do
    if { [ -e "$f" ] || [ -L "$f" ]; } && ! grep -q "$MARK" "$f" 2>/dev/null \
      && [[ "$(readlink "$f" 2>/dev/null)" != "$APPDIR"/* ]]; then
      die "$f exists and was not written by this installer; remove it or pass --force"
    fi
  done
fi

# An earlier install is replaced; its venv is set aside until the new one works.
ENTRIES=()
OLD_MANIFEST=""
if [ -f "$MANIFEST" ]; then
  say "replacing the earlier install"
  OLD_MANIFEST=$(mktemp)
  cp "$MANIFEST" "$OLD_MANIFEST"
  while IFS=$'\t' read -r kind path; do # folders and caches it made stay listed, for uninstall.sh
    case "$kind" in dir | cache) ENTRIES+=("$kind	$path") ;; esac
  done < "$OLD_MANIFEST"
fi
if [ -d "$VENV" ]; then
  rm -rf "$VENV.old"
  mv "$VENV" "$VENV.old"
fi
ENV_READY=0
save_manifest() {
  {
    echo "# isoscope ${VERSION:-} install manifest: kind<TAB>path; uninstall.sh undoes it from the bottom up"
    printf '%s\n' "${ENTRIES[@]}"
    printf 'file\t%s\n' "$MANIFEST"
  } > "$MANIFEST"
}
on_exit() { # the environment works: keep it and list everything written so far; else put the old one back
  if [ "$ENV_READY" = 1 ]; then save_manifest; return; fi
  rm -rf "$VENV"
  if [ -d "$VENV.old" ]; then mv "$VENV.old" "$VENV"; fi
  echo "install.sh: failed; the earlier install (if any) is left as it was" >&2
}
trap on_exit EXIT

# --- the environment -------------------------------------------------------------------------------
record() { ENTRIES+=("$1	$2"); }
make_dir() { # mkdir -p, recording every folder it creates (outermost first)
  local d=$1 missing=() i
  while [ ! -d "$d" ]; do missing+=("$d"); d=$(dirname "$d"); done
  mkdir -p "$1"
  for ((i = ${#missing[@]} - 1; i >= 0; i--)); do record dir "${missing[i]}"; done
}

make_dir "$APPDIR"
say "making the environment $VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
if [ -n "$REUSE" ]; then # pip too comes from the reused environment
  "$PY" -m venv --without-pip "$VENV"
  record tree "$VENV"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$REUSE" -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/isoscope-reused-env.pth"
  "$VENV/bin/python" -c 'import pip' 2>/dev/null || die "$REUSE has no pip to install with"
  say "installing $TARGET alone (dependencies come from $REUSE)"
  "${PIP[@]}" install -q --no-deps "$TARGET"
else
  "$PY" -m venv "$VENV"
  record tree "$VENV"
  say "installing $TARGET and its dependencies (PyTorch with CUDA: about 7 GB on disk)"
  "${PIP[@]}" install -q --upgrade pip
  "${PIP[@]}" install -q "$TARGET"
fi
VERSION=$("$VENV/bin/python" -c 'import isoscope; print(isoscope.__version__)')
mapfile -t ICON_FILES < <("$VENV/bin/python" -c 'from isoscope import resources; print("\n".join(map(str, resources.icon_files())))')
[ ${#ICON_FILES[@]} -gt 0 ] || die "the installed package has no icons"
ENV_READY=1
rm -rf "$VENV.old"

if [ -n "$OLD_MANIFEST" ]; then # drop what the earlier install wrote outside the environment
  while IFS=$'\t' read -r kind path; do
    case "$kind" in file | link) [ "$path" = "$MANIFEST" ] || rm -f "$path" ;; esac
  done < "$OLD_MANIFEST"
  rm -f "$OLD_MANIFEST"
fi

# --- launchers -------------------------------------------------------------------------------------
make_dir "$BIN"
claim() { rm -f "$1"; } # checked above: nothing there, or ours, or --force
claim "$BIN/isoscope"
cat > "$BIN/isoscope" <<EOF
#!/bin/sh
# isoscope launcher, $MARK; packaging/uninstall.sh removes it.
# Besides the window's own options: --open-last-run (reopen the newest run), --open-runs-folder.
VENV='$VENV'
case "\${1:-}" in
  --open-runs-folder)
    root=\$("\$VENV/bin/python" -c 'from isoscope.core.runs.rundir import default_root; print(default_root())')
    mkdir -p "\$root"
    if command -v xdg-open >/dev/null 2>&1; then exec xdg-open "\$root"; fi
    echo "runs folder: \$root"; exit 0 ;;
  --open-last-run)
    shift
    run=\$("\$VENV/bin/python" -c 'from isoscope.core.runs.rundir import default_root; from isoscope.core.runs.follow import list_runs; r = list_runs(default_root()); print(r[0].path if r else "")')
    if [ -n "\$run" ]; then exec "\$VENV/bin/isoscope" "\$run" "\$@"; fi ;;
esac
exec "\$VENV/bin/isoscope" "\$@"
EOF
chmod 755 "$BIN/isoscope"
record file "$BIN/isoscope"
for tool in isoscope-train isoscope-inspect isoscope-bench; do
  [ -x "$VENV/bin/$tool" ] || continue
  claim "$BIN/$tool"
  ln -s "$VENV/bin/$tool" "$BIN/$tool"
  record link "$BIN/$tool"
done

# --- icons and the menu entry ----------------------------------------------------------------------
for icon in "${ICON_FILES[@]}"; do
  case "$icon" in
    *.svg) dir=$ICONS/scalable/apps; ext=svg ;;
    *) size=${icon##*-}; size=${size%.png}; dir=$ICONS/${size}x${size}/apps; ext=png ;;
  esac
  make_dir "$dir"
  install -m 644 "$icon" "$dir/isoscope.$ext"
  record file "$dir/isoscope.$ext"
done

make_dir "$APPS"
ENTRY=$APPS/isoscope.desktop
sed -e "s|@LAUNCHER@|$BIN/isoscope|g" -e "s|@VERSION@|$VERSION|g" "$HERE/isoscope.desktop.in" > "$ENTRY"
chmod 644 "$ENTRY"
record file "$ENTRY"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$ENTRY" || say "warning: desktop-file-validate does not accept $ENTRY"
fi
if command -v update-desktop-database >/dev/null 2>&1; then
  [ -e "$APPS/mimeinfo.cache" ] || record cache "$APPS/mimeinfo.cache"
  update-desktop-database -q "$APPS" || true
  record refresh-desktop "$APPS"
fi
if [ -e "$ICONS/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f "$ICONS" || true
  record refresh-icons "$ICONS"
fi

install -m 755 "$HERE/uninstall.sh" "$APPDIR/uninstall.sh"
record file "$APPDIR/uninstall.sh"
save_manifest

say "installed isoscope $VERSION"
say "  start it from the desktop menu, or run $BIN/isoscope"
case ":$PATH:" in *":$BIN:"*) ;; *) say "  ($BIN is not on your PATH; add it to use isoscope-train in a terminal)" ;; esac
say "  remove it with: $APPDIR/uninstall.sh   (add --purge to delete your runs too)"
