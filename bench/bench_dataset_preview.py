"""Dataset preview on a big image CSV: first rows and scrolling against reading the whole file.

Generates an MNIST-sized dataset (60,000 rows, 28×28 gray PNGs) in a temporary folder, then
measures, in the same run:

- open + first 50 rows: CsvPreview (index the rows) and decode the first 50 rows' cells,
  which is what the Dataset workspace does before it draws the first screen;
- variables: dataset_variables (shapes, ranges, class counts, one image decoded);
- scrolling: one random row read and its image decoded, per row;
- the baseline: read_csv of the whole file (every image decoded), what a preview would cost
  without lazy reading.

Medians of several repeats (scrolling: of 500 random rows).

    python bench/bench_dataset_preview.py [--rows 60000] [--repeats 5]
"""
import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from designer.core.data import read_csv  # noqa: E402
from designer.core.preview import CsvPreview, dataset_variables  # noqa: E402


def generate(folder: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    (folder / "img").mkdir()
    lines = ["x:image,y:label"]
    for i in range(rows):
        pixels = (rng.random((28, 28)) < 0.2).astype(np.uint8) * 255
        Image.fromarray(pixels).save(folder / "img" / f"{i}.png", compress_level=1)
        lines.append(f"img/{i}.png,{i % 10}")
    path = folder / "index.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def first_rows(path: Path, count: int = 50) -> None:
    rows = CsvPreview(path)
    for i in range(count):
        for cell in rows.row(i):
            assert cell.error is None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = generate(Path(tmp), args.rows)
        print(f"generated {args.rows} rows of 28×28 PNGs in {time.perf_counter() - start:.1f} s")
        # each measurement once before timing, so every one reads from a warm file cache
        first_rows(path)
        opening = statistics.median(timed(lambda: first_rows(path)) for _ in range(args.repeats))
        variables = statistics.median(timed(lambda: dataset_variables(str(path)))
                                      for _ in range(args.repeats))
        rows = CsvPreview(path)
        picks = random.Random(0).sample(range(rows.row_count), 500)
        scroll = statistics.median(timed(lambda i=i: rows.row(i)) for i in picks)
        whole = statistics.median(timed(lambda: read_csv(path))
                                  for _ in range(max(1, args.repeats // 2)))
    print(f"{'':32}{'median':>10}{'× whole file':>14}")
    for name, seconds in (("open + first 50 rows drawn", opening),
                          ("variables (shapes, ranges)", variables),
                          ("scroll: one random row", scroll),
                          ("read_csv of the whole file", whole)):
        print(f"{name:32}{seconds * 1000:>8.1f} ms{seconds / whole:>14.2g}")
    verdict = "meets" if opening < 0.5 else "misses"
    print(f"first rows in {opening:.3f} s: {verdict} the goal (< 0.5 s); "
          f"{whole / opening:.0f}× sooner than reading the whole file")


if __name__ == "__main__":
    main()
