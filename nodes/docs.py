"""The layer reference in the README, generated from the catalog.

``python -m nodes.docs README.md`` rewrites the part between the LAYERS markers; a test fails
when the README and the catalog disagree.
"""
import sys
from pathlib import Path

from nodes import CATALOG, CATEGORIES

BEGIN, END = "<!-- LAYERS -->", "<!-- /LAYERS -->"


def _prop(p) -> str:
    default = p.format(p.default) if p.kind != "str" else repr(p.default)
    return f"`{p.name}`={default}"


def _props(spec) -> str:
    """The properties with their defaults; each learned tensor once, with its initializer (its
    Initializer, InitializerMultiplier and LRateMultiplier properties go without saying)."""
    own = {p.name for w in spec.weights for p in w.props()}
    listed = [_prop(p) for p in spec.props if p.name not in own]
    if spec.weights:
        tensors = ", ".join(f"`{w.name}` {w.initializer} ×{w.multiplier:g}" for w in spec.weights)
        listed.append(f"learned {tensors}")
    return ", ".join(listed) or "—"


def catalog_markdown() -> str:
    lines = ["| category | layer | properties (defaults) | what it does |", "| --- | --- | --- | --- |"]
    for category in CATEGORIES:
        for spec in CATALOG.values():
            if spec.category == category:
                props = _props(spec)
                lines.append(f"| {category} | **{spec.name}** | {props} | "
                             f"{spec.help.replace('|', '/')} |")
    return "\n".join(lines)


def with_catalog(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{catalog_markdown()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(with_catalog(path.read_text(encoding="utf-8")), encoding="utf-8")
