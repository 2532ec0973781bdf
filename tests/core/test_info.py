"""`python -m designer info`: NNC-style network statistics."""
import json
import subprocess
import sys

from designer.core.cli import main
from designer.core.project import Project

from tests.conftest import PROJECTS, ROOT


def test_info_json_for_lenet(capsys):
    assert main(["info", str(PROJECTS / "digits_lenet.nnd"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert set(stats) >= {"layers", "total_params", "total_macs", "errors"}
    first_conv = stats["layers"][1]
    assert first_conv == {"name": "Convolution", "type": "Convolution",
                          "output_shape": [6, 24, 24], "params": 156, "macs": 86400}
    assert stats["total_params"] == sum(layer["params"] for layer in stats["layers"])
    assert stats["errors"] == []


def test_info_table_and_errors_exit_2(tmp_path, capsys):
    project = Project(name="broken")
    net = project.network()
    i = net.add("Input", Size=[4])
    net.connect(i, net.add("Affine", OutShape=[3]))
    path = project.save(tmp_path / "broken.nnd")
    assert main(["info", str(path)]) == 2
    out = capsys.readouterr().out
    assert "Affine" in out and "Total" in out
    assert "error: the network has no loss layer" in out


def test_info_on_a_broken_file_exits_2_with_the_reason(tmp_path):
    path = tmp_path / "bad.nnd"
    path.write_text("{")
    out = subprocess.run([sys.executable, "-m", "designer", "info", str(path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "line 1" in out.stderr and str(path) in out.stderr
