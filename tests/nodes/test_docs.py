from nodes.docs import with_catalog

from tests.conftest import ROOT


def test_readme_layer_table_matches_the_catalog():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == with_catalog(readme), "run: python -m nodes.docs README.md"
    assert "| Basic | **Convolution** | `OutMaps`=16" in readme
