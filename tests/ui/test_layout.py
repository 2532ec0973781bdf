"""Arrange: top to bottom, skip connections beside the chain, each layer centred."""
from designer.core.project import Network, load
from designer.ui.layout import COLUMN, ROW, arrange

from tests.conftest import PROJECTS


def test_a_chain_becomes_one_column_top_to_bottom():
    net = load(PROJECTS / "iris_mlp.nnd").network()
    for n in net.nodes:
        n.pos = (hash(n.id) % 500, -(hash(n.name) % 300))
    pos = arrange(net, origin=(10, 20))
    order = [n.id for n in net.nodes]
    assert [pos[i] for i in order] == [(10, 20 + k * ROW) for k in range(len(order))]


def test_a_skip_connection_runs_beside_the_nodes_it_skips():
    net = load(PROJECTS / "digits_resnet.nnd").network()
    pos = arrange(net)
    add = net.find("Add2")
    sources = [net.node(k.src) for k in net.links if k.dst == add.id]
    long_link = max(sources, key=lambda s: pos[add.id][1] - pos[s.id][1])
    skipped = [n for n in net.nodes
               if pos[long_link.id][1] < pos[n.id][1] < pos[add.id][1]]
    assert skipped, "the skip connection spans several layers"
    # The skipped chain stands in its own column, half a column away from both ends.
    assert all(pos[n.id][0] != pos[long_link.id][0] for n in skipped)
    assert pos[long_link.id][0] == pos[add.id][0]
    assert abs(pos[skipped[0].id][0] - pos[add.id][0]) == COLUMN / 2


def test_parallel_branches_share_a_row_and_cycles_do_not_hang():
    net = Network()
    a = net.add("Input", Size=[4])
    b = net.add("Affine", OutShape=[3])
    c = net.add("Affine", OutShape=[3])
    d = net.add("Add2")
    for src, dst, port in ((a, b, 0), (a, c, 0), (b, d, 0), (c, d, 1)):
        net.connect(src, dst, port)
    pos = arrange(net)
    assert pos[b.id][1] == pos[c.id][1] == ROW
    assert abs(pos[b.id][0] - pos[c.id][0]) == COLUMN
    net.connect(d, b)  # a cycle: still a position for every node
    assert set(arrange(net)) == {a.id, b.id, c.id, d.id}
