#!/usr/bin/env bash
# Removes what packaging/install.sh installed, exactly the paths in its manifest, and nothing else.
#
#   bash packaging/uninstall.sh            # keeps your runs ($XDG_DATA_HOME/isoscope/runs) and settings
#   bash packaging/uninstall.sh --purge    # deletes the runs folder and the window's settings too
#
# install.sh also leaves a copy at $XDG_DATA_HOME/isoscope/uninstall.sh, so a checkout is not needed.
set -euo pipefail

PURGE=0
for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: error: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

[ -n "${HOME:-}" ] || { echo "uninstall.sh: error: HOME is not set" >&2; exit 2; }
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}
APPDIR=$DATA/isoscope
MANIFEST=$APPDIR/install-manifest.txt

LEFT=$APPDIR/.folders-made-by-install # folders kept for the runs; a later --purge removes them too

purge() {
  [ "$PURGE" = 1 ] || return 0
  if [ -d "$APPDIR/runs" ]; then rm -rf "$APPDIR/runs" && echo "uninstall.sh: deleted the runs in $APPDIR/runs"; fi
  rm -f "$CONFIG/isoscope/isoscope.ini"
  rmdir "$CONFIG/isoscope" 2>/dev/null || true
  if [ -f "$LEFT" ]; then
    mapfile -t dirs < "$LEFT"
    rm -f "$LEFT"
    for ((k = ${#dirs[@]} - 1; k >= 0; k--)); do rmdir -- "${dirs[k]}" 2>/dev/null || true; done
  fi
  rmdir "$APPDIR" 2>/dev/null || true
}

if [ ! -f "$MANIFEST" ]; then
  echo "uninstall.sh: isoscope is not installed here (no $MANIFEST)"
  purge
  if [ "$PURGE" = 1 ]; then rm -rf -- "$CACHE/isoscope"; fi
  exit 0
fi

mapfile -t LINES < <(grep -v '^#' "$MANIFEST" | grep -v '^$')
kinds=()
paths=()
for line in "${LINES[@]}"; do
  kind=${line%%$'\t'*}
  path=${line#*$'\t'}
  case "$kind:$path" in # folders are only ever rmdir'ed when empty; nothing else may be a top folder
    dir:?*) ;;
    *:"" | *:/ | *:"$HOME" | *:"$DATA" | *:"$CONFIG") echo "uninstall.sh: skipping a suspicious line: $line" >&2; continue ;;
  esac
  kinds+=("$kind")
  paths+=("$path")
done

# Files, links and the environment first, last written first.
for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
  case "${kinds[i]}" in
    tree) rm -rf -- "${paths[i]}" ;;
    file | link) rm -f -- "${paths[i]}" ;;
  esac
done

# Caches: refresh them for whatever else is installed; drop one this install created if nothing needs it.
for ((i = 0; i < ${#paths[@]}; i++)); do
  dir=${paths[i]}
  case "${kinds[i]}" in
    refresh-desktop)
      created=0
      for ((j = 0; j < ${#paths[@]}; j++)); do
        if [ "${kinds[j]}" = cache ] && [ "${paths[j]}" = "$dir/mimeinfo.cache" ]; then created=1; fi
      done
      if compgen -G "$dir/*.desktop" >/dev/null || [ "$created" = 0 ]; then
        if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "$dir" || true; fi
      else
        rm -f -- "$dir/mimeinfo.cache"
      fi ;;
    refresh-icons)
      if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t -f "$dir" || true; fi ;;
  esac
done

purge
rm -rf -- "$CACHE/isoscope" # what the window cached at run time (Qt shaders); shared caches (warp, matplotlib) stay

# Folders the install created, innermost first, when nothing else is in them.
kept=()
for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
  if [ "${kinds[i]}" = dir ]; then rmdir -- "${paths[i]}" 2>/dev/null || kept=("${paths[i]}" "${kept[@]}"); fi
done
if [ ${#kept[@]} -gt 0 ] && [ -d "$APPDIR" ]; then printf '%s\n' "${kept[@]}" > "$LEFT"; fi

if [ -d "$APPDIR/runs" ]; then
  echo "uninstall.sh: removed isoscope; your runs are still in $APPDIR/runs (--purge deletes them)"
else
  echo "uninstall.sh: removed isoscope"
fi
