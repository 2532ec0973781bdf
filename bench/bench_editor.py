"""How quick the designer window is on a big network.

Generates a 300-layer project (a ResNet-like stack: convolution, normalization, activation and
skip connections), opens it in the real window (offscreen), then applies 100 property edits
through the properties panel. Each edit is timed from the new value to the canvas repainted
with the updated shapes. Goals: open under 1.5 s, median edit under 30 ms.

    python bench/bench_editor.py [--layers 300] [--edits 100]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import designer.ui  # noqa: E402,F401  (before any Qt use)
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from designer.core.analysis import analyze  # noqa: E402
from designer.core.project import Network, Project  # noqa: E402
from designer.ui.app import freeze_startup_objects  # noqa: E402

GOAL_OPEN_S = 1.5
GOAL_EDIT_MS = 30.0


class PaintWatcher(QObject):
    """Records the regions a widget paints."""

    def __init__(self, widget):
        super().__init__(widget)
        self.regions: list = []
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region())
        return False

    def covered(self, rect) -> bool:
        return any(r.contains(rect.center()) for r in self.regions)


def resnet_like(layers: int) -> Project:
    """Input, then blocks of Conv→BN→ReLU→Conv→BN→Add2(skip)→ReLU, then a classifier."""
    net = Network()
    y = 0.0

    def add(kind, src=None, **props):
        nonlocal y
        node = net.add(kind, pos=(0.0, y), **props)
        y += 90.0
        if src is not None:
            net.connect(src, node)
        return node

    x = add("Input", Size=[16, 32, 32])
    while len(net.nodes) + 7 + 3 <= layers:
        skip = x
        x = add("Convolution", x, OutMaps=16, KernelShape=[3, 3], Padding=[1, 1])
        x = add("BatchNormalization", x)
        x = add("ReLU", x)
        x = add("Convolution", x, OutMaps=16, KernelShape=[3, 3], Padding=[1, 1])
        x = add("BatchNormalization", x)
        add_node = add("Add2", x)
        net.connect(skip, add_node, port=1)
        x = add("ReLU", add_node)
    while len(net.nodes) < layers - 3:
        x = add("ReLU", x)
    x = add("GlobalAveragePooling", x)
    x = add("Affine", x, OutShape=[10])
    add("SoftmaxCrossEntropy", x)
    project = Project(name="bench", networks=[net])
    assert analyze(net).ok, analyze(net).problems[:3]
    return project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=300)
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from designer.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.nnd"
        resnet_like(args.layers).save(path)
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)

        t0 = time.perf_counter()
        window = MainWindow(settings=settings)
        window.show()
        app.processEvents()
        t1 = time.perf_counter()
        window.files.open_path(path)
        app.processEvents()
        window.canvas.viewer.viewport().repaint()
        t2 = time.perf_counter()
        freeze_startup_objects()
        net = window.editor.network
        print(f"{len(net.nodes)} layers, {len(net.links)} links")
        print(f"window created in {t1 - t0:.3f} s")
        print(f"project opened in {t2 - t1:.3f} s (load, scene, analysis, panels, first paint)"
              f"   goal < {GOAL_OPEN_S} s")

        # The first convolution of each block: its width changes the shapes below it while the
        # block's second convolution restores what the skip connection needs.
        convs = [n for n in net.nodes if n.type == "Convolution"][::2]
        viewer = window.canvas.viewer
        painted = PaintWatcher(viewer.viewport())  # proves the update reached the screen
        for view_name, zoom_in in (("whole network in view", False),
                                   ("100 % zoom on the edited layer", True)):
            window.fit_action.trigger()
            edits = []
            for i in range(args.edits):
                node = convs[i % len(convs)]
                window.canvas.select([node.id])
                if zoom_in:
                    viewer.reset_zoom(window.canvas.items[node.id].view.sceneBoundingRect()
                                      .center())
                app.processEvents()
                box = window.properties.editors["OutMaps"]
                value = 24 if box.value() == 16 else 16
                view = window.canvas.items[node.id].view
                card = viewer.mapFromScene(view.sceneBoundingRect()).boundingRect()
                painted.regions.clear()
                start = time.perf_counter()
                box.setValue(value)  # the panel's own commit path: an undoable edit
                while not painted.covered(card) and time.perf_counter() - start < 2:
                    app.processEvents()  # the repaint Qt schedules for what changed
                edits.append((time.perf_counter() - start) * 1000)
                assert view.shape_text == f"{value}×32×32" and painted.covered(card)
            baseline = []
            for _ in range(20):
                s = time.perf_counter()
                analyze(net)
                baseline.append((time.perf_counter() - s) * 1000)
            median = statistics.median(edits)
            print(f"edit → shapes on screen, {view_name}: median {median:.1f} ms, "
                  f"worst {max(edits):.1f} ms over {len(edits)} edits   goal median < "
                  f"{GOAL_EDIT_MS:.0f} ms  (analysis alone: {statistics.median(baseline):.1f} ms; "
                  f"an edit costs {median / statistics.median(baseline):.1f}× that)")
        window.editor.undo_stack.setClean()
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return 0


if __name__ == "__main__":
    sys.exit(main())
