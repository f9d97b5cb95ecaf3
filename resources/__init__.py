"""Files that ship with isoscope: sample parts, the test gallery and the application icon.

Works the same from a source checkout and from an installed wheel (the files are package data), and
imports nothing heavy, so the window and the command line can both use it.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ICON_NAME = "isoscope"
ICON_SIZES = (16, 32, 48, 64, 128, 256)

# Sample parts in the order a newcomer should try them, with a line saying what each one shows.
SAMPLE_NOTES = {
    "sphere": "the simplest shape: trains in seconds, a good first run",
    "torus": "a hole through the middle: checks inside/outside signs",
    "box": "flat faces and sharp edges",
    "bracket": "an L-shaped bracket: a CAD-like part with sharp inner corners",
}


def sample_parts() -> list[Path]:
    """The sample STL parts, simplest first (known ones in SAMPLE_NOTES order, then any others by name)."""
    found = {p.stem: p for p in (HERE / "parts").glob("*.stl") if p.is_file()}
    known = [found.pop(name) for name in SAMPLE_NOTES if name in found]
    return known + [found[name] for name in sorted(found)]


def sample_note(part: str | Path) -> str:
    """A short description of a sample part ('' for a part that is not one of the samples)."""
    return SAMPLE_NOTES.get(Path(part).stem, "")


def icon_svg() -> Path:
    """The scalable application icon."""
    return HERE / "icons" / f"{ICON_NAME}.svg"


def icon_png(size: int) -> Path:
    """The application icon rendered at ``size`` x ``size`` pixels (one of ICON_SIZES)."""
    return HERE / "icons" / f"{ICON_NAME}-{size}.png"


def icon_files() -> list[Path]:
    """Every icon file that exists: the PNG sizes, then the SVG."""
    return [p for p in [*(icon_png(s) for s in ICON_SIZES), icon_svg()] if p.exists()]
