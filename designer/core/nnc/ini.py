"""The INI text of a ``.sdcproj`` file: sections of ``Key=Value`` lines, each value with the
line it came from, and typed access that names the line of a bad value.

NNC's editor writes CRLF, its samples LF; a UTF-8 byte-order mark is allowed, and files that
are not UTF-8 are read as Shift-JIS (cp932), which old Windows versions may have written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class NncError(ValueError):
    """A ``.sdcproj`` file cannot be opened; the message names the file and the line or section.

    ``missing`` lists what the app lacks when that is the reason (layer types, one an entry).
    """

    def __init__(self, message: str, missing: list[str] | None = None):
        super().__init__(message)
        self.missing = missing or []


@dataclass
class Section:
    name: str
    line: int
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (value, line)


@dataclass
class Ini:
    """The file's sections in order, and where each value came from."""

    source: str
    sections: dict[str, Section]
    encoding: str = "utf-8"

    def fail(self, line: int | None, message: str) -> NncError:
        where = f"line {line}: " if line else ""
        return NncError(f"{self.source}: {where}{message}")

    def has(self, name: str) -> bool:
        return name in self.sections

    def section(self, name: str) -> Section:
        if name not in self.sections:
            raise self.fail(None, f"section [{name}] is missing")
        return self.sections[name]

    def text(self, section: str, key: str, default: str | None = None) -> str:
        sec = self.section(section)
        if key not in sec.values:
            if default is not None:
                return default
            raise self.fail(sec.line, f"[{section}] has no {key}")
        return sec.values[key][0]

    def line(self, section: str, key: str) -> int:
        sec = self.section(section)
        return sec.values[key][1] if key in sec.values else sec.line

    def number(self, section: str, key: str, default: float | None = None) -> float:
        text = self.text(section, key, None if default is None else "")
        if text == "" and default is not None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise self.fail(self.line(section, key),
                            f"[{section}] {key} must be a number, not {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(self.line(section, key), f"[{section}] {key} must be a finite number")
        return value

    def integer(self, section: str, key: str, default: int | None = None,
                low: int | None = None, high: int | None = None) -> int:
        value = self.number(section, key, None if default is None else float(default))
        where = self.line(section, key)
        if value != int(value):
            raise self.fail(where, f"[{section}] {key} must be a whole number, not {value:g}")
        value = int(value)
        if low is not None and value < low:
            raise self.fail(where, f"[{section}] {key} must be at least {low}, not {value}")
        if high is not None and value > high:
            raise self.fail(where, f"[{section}] {key} must be at most {high}, not {value}")
        return value

    def flag(self, section: str, key: str, default: bool) -> bool:
        """NNC's 1/0 flags: anything but '0' is on."""
        return self.text(section, key, "1" if default else "0").strip() != "0"

    def count(self, section: str, key: str, items: str, present: int, limit: int) -> int:
        """A count of ``items`` that must exist: refused when larger than what the file holds
        (a file claiming 10⁹ layers is refused at once, not searched)."""
        n = self.integer(section, key, low=0)
        if n > limit:
            raise self.fail(self.line(section, key), f"[{section}] {key}={n} is more {items} "
                                                     f"than this app opens (at most {limit})")
        if n > present:
            raise self.fail(self.line(section, key), f"[{section}] {key}={n}, but the file holds "
                                                     f"{present} {items}")
        return n


def read(path: str | Path) -> Ini:
    """Read and split a ``.sdcproj`` file; NncError names the file and line of any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NncError(f"{path}: file not found") from None
    except OSError as e:
        raise NncError(f"{path}: cannot read ({e.strerror})") from None
    if b"\x00" in data:
        raise NncError(f"{path}: not a Neural Network Console project (a binary file)")
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("cp932"), "cp932"
        except UnicodeDecodeError as e:
            raise NncError(f"{path}: not a text file (byte {e.start} is neither UTF-8 nor "
                           "Shift-JIS)") from None
    return parse(text, str(path), encoding)


def parse(text: str, source: str, encoding: str = "utf-8") -> Ini:
    sections: dict[str, Section] = {}
    current: Section | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip() or line.startswith((";", "=")):  # blanks and comments, as NNC
            continue
        if line.startswith("["):
            if not line.rstrip().endswith("]") or len(line.strip()) < 3:
                raise NncError(f"{source}: line {number}: a section line is [Name], not {line!r}")
            name = line.strip()[1:-1]
            if name in sections:
                raise NncError(f"{source}: line {number}: section [{name}] appears twice (first "
                               f"on line {sections[name].line})")
            current = sections[name] = Section(name, number)
            continue
        if "=" not in line:
            raise NncError(f"{source}: line {number}: expected Key=Value or [Section], "
                           f"not {line[:60]!r}")
        if current is None:
            raise NncError(f"{source}: line {number}: {line[:60]!r} comes before any [Section]")
        key, _, value = line.partition("=")
        if key in current.values:
            raise NncError(f"{source}: line {number}: [{current.name}] {key} appears twice "
                           f"(first on line {current.values[key][1]})")
        current.values[key] = (value, number)
    if not sections:
        raise NncError(f"{source}: not a Neural Network Console project (no [Section] in it)")
    return Ini(source, sections, encoding)
