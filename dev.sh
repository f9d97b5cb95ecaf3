#!/usr/bin/env bash
# Sets up isoscope on a fresh Debian/Ubuntu machine and runs it.
#   bash dev.sh demo   # set up, then open the window fitting a sample part (headless without a display)
#   bash dev.sh test   # set up, then run the test suite (GUI tests on a virtual display)
#   bash dev.sh setup  # set up only
# Setup: Debian packages for Qt/VTK on a virtual display (when run as root), a virtual environment
# in .venv with the pinned dependencies, isoscope installed in editable mode. Re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

debs=(xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
      libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
      libdbus-1-3 libfontconfig1 desktop-file-utils)

setup_debs() {
  local missing=()
  for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "dev.sh: please install these Debian packages: ${missing[*]}" >&2
  fi
}

setup_venv() {
  local stamp="$VENV/.isoscope-installed"
  local want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  local free_gb
  free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
  if [ "$free_gb" -lt 12 ]; then
    echo "dev.sh: only ${free_gb} GiB free here; the environment (torch with CUDA) needs about 12 GiB to install" >&2
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test,ray]"
  echo "$want" > "$stamp"
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup) setup_debs; setup_venv ;;
  demo)
    setup_debs; setup_venv
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      exec "$VENV/bin/isoscope" resources/parts/bracket.stl --preset smoke --start "$@"
    fi
    echo "dev.sh: no display, so no window: fitting headless instead (on a desktop, bash dev.sh demo opens the window)" >&2
    exec "$VENV/bin/isoscope-train" resources/parts/bracket.stl --preset smoke "$@" ;;
  test)
    setup_debs; setup_venv
    # pytest's own script, not `python -m pytest`: the checkout's folders must not import as top-level names.
    if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
      exec xvfb-run -a -s "-screen 0 1600x1000x24" "$VENV/bin/pytest" "$@"
    fi
    exec "$VENV/bin/pytest" "$@" ;;
  *) echo "usage: bash dev.sh demo|test|setup" >&2; exit 2 ;;
esac
