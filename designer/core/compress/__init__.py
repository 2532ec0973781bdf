"""Make a trained model small and fast: int8 quantization, structured pruning, distillation.

``python -m designer compress PROJECT --run RUN --method quantize|prune|distill ... -o OUT``

* ``quantize``: an int8 ONNX model of the run (``quantize``), written to OUT.
* ``prune``: a smaller project (OUT, a .nnd file) whose chosen layers have fewer maps or units,
  with a run holding its weights; ``fine_tune`` epochs train it on from there.
* ``distill``: a student project trained against the run as its teacher; OUT is the run folder.

Each measures the model before and after in the same way (``measure``): ONNX file size, ONNX
Runtime latency on the CPU at batch 1 and 32, validation accuracy (or error), parameters and
multiply-adds. The report is kept in the origin run's ``compressed/`` folder, where the Runs
view finds it.

The package: ``methods`` (from a run to the result), ``quantize``, ``prune``, ``measure`` and
``result`` (the figures and the report, which the window reads without loading torch), and
``command`` (``python -m designer compress``). Distillation itself is a training setting
(``designer.core.distill``).
"""

METHODS = ("quantize", "prune", "distill")
