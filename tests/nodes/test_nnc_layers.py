"""The layers Neural Network Console projects use most, each checked against what NNC (nnabla)
computes: forward values against torch or numpy references, the straight-through gradients of
the binary layers, and the training-only behaviour of the augmentation layers. Shapes and
parameter counts of every layer are checked against torch in test_catalog."""
import math

import numpy as np
import pytest
import torch

from nodes import ShapeError, get_spec

torch.set_num_threads(1)


def build(name, shapes, **raw):
    spec = get_spec(name)
    props = spec.parse_props(raw)
    return spec.module([tuple(s) for s in shapes], props), props


def refusal(name, shapes, **raw) -> str:
    spec = get_spec(name)
    with pytest.raises(ShapeError) as info:
        spec.infer([tuple(s) for s in shapes], spec.parse_props(raw))
    return str(info.value)


# ---- PReLU ---------------------------------------------------------------------------------

def test_prelu_has_a_slope_per_index_of_its_base_axis():
    module, props = build("PReLU", [(3, 4, 5)])
    assert torch.equal(module.weight.detach(), torch.full((3,), 0.25))  # NNC's initial slope
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(module(x), torch.nn.functional.prelu(x, module.weight))
    module, _ = build("PReLU", [(3, 4, 5)], BaseAxis=1)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    expected = torch.where(x >= 0, x, x * torch.tensor([0.0, 1.0, 2.0, 3.0]).reshape(4, 1))
    torch.testing.assert_close(module(x), expected)
    assert get_spec("PReLU").params([(3, 8, 8)], {"BaseAxis": 1}, (3, 8, 8)) == 8
    assert "BaseAxis 3" in refusal("PReLU", [(3, 8, 8)], BaseAxis=3)


# ---- binary layers -------------------------------------------------------------------------

def test_binary_connect_affine_uses_signs_and_passes_gradients_straight_through():
    module, _ = build("BinaryConnectAffine", [(4,)], OutShape=(3,))
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[0.5, -0.2, 0.0, 3.0]] * 3))
        module.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    y = module(x)
    signs = torch.tensor([1.0, -1.0, 1.0, 1.0])  # sign(0) is +1, as nnabla's
    torch.testing.assert_close(y, (x.detach() * signs).sum(1, keepdim=True) +
                               torch.tensor([[0.1, 0.2, 0.3]]))
    y.sum().backward()
    # dL/dW = dL/dWb: the gradient of the affine in its binarised weight, unclipped
    torch.testing.assert_close(module.weight.grad, x.detach().expand(3, 4))
    torch.testing.assert_close(x.grad, signs.expand(1, 4) * 3)
    module.eval()
    assert torch.equal(module(x.detach()), y.detach())  # inference: the same signs


def test_binary_weight_affine_scales_signs_by_the_mean_absolute_weight_per_output():
    module, _ = build("BinaryWeightAffine", [(2,)], OutShape=(2,), WithBias=False)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[1.0, -3.0], [0.5, 0.5]]))
    x = torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(module(x), torch.tensor([[2.0 * (1 - 1), 0.5 * 2]]))
    module(torch.tensor([[1.0, 2.0]])).sum().backward()
    # α is a constant: the gradient is not multiplied by it
    torch.testing.assert_close(module.weight.grad, torch.tensor([[1.0, 2.0], [1.0, 2.0]]))


@pytest.mark.parametrize("name, scaled", [("BinaryConnectConvolution", False),
                                          ("BinaryWeightConvolution", True)])
def test_binary_convolutions_match_a_convolution_with_binarised_kernels(name, scaled):
    module, _ = build(name, [(3, 9, 9)], OutMaps=4, KernelShape=(3, 3), Padding=(1, 1))
    x = torch.randn(2, 3, 9, 9)
    w = module.weight.detach()
    binary = torch.where(w >= 0, 1.0, -1.0)
    if scaled:
        binary = binary * w.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = torch.nn.functional.conv2d(x, binary, module.bias, padding=1)
    torch.testing.assert_close(module(x), expected)
    assert get_spec(name).infer([(1, 28, 28)], get_spec(name).defaults()) == (16, 24, 24)


@pytest.mark.parametrize("name, low, grad_inside", [("BinaryTanh", -1.0, 1.0),
                                                    ("BinarySigmoid", 0.0, 0.5)])
def test_binary_activations(name, low, grad_inside):
    module, _ = build(name, [(6,)])
    x = torch.tensor([[-2.0, -0.5, 0.0, 0.3, 0.99, 1.5]], requires_grad=True)
    y = module(x)
    assert y.tolist() == [[low, low, low, 1.0, 1.0, 1.0]]  # x = 0 goes to the low value
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, grad_inside, grad_inside, grad_inside, grad_inside, 0.0]]


# ---- arithmetic and math -------------------------------------------------------------------

@pytest.mark.parametrize("name, value, expected", [
    ("AddScalar", 2.0, lambda x: x + 2), ("MulScalar", -3.0, lambda x: x * -3),
    ("RSubScalar", 1.0, lambda x: 1 - x), ("RDivScalar", 2.0, lambda x: 2 / x),
    ("PowScalar", 3.0, lambda x: x ** 3), ("MaximumScalar", 0.5, lambda x: x.clamp_min(0.5)),
    ("MinimumScalar", 0.5, lambda x: x.clamp_max(0.5))])
def test_scalar_arithmetic(name, value, expected):
    module, _ = build(name, [(5,)], Value=value)
    x = torch.tensor([[0.25, 0.5, 1.0, 2.0, 4.0]])
    torch.testing.assert_close(module(x), expected(x))


def test_two_input_arithmetic_broadcasts_and_sub2_div2_take_r_second():
    a, b = torch.randn(2, 3, 4), torch.rand(2, 3, 1) + 0.5
    for name, expected in [("Sub2", a - b), ("Div2", a / b), ("Maximum2", torch.maximum(a, b)),
                           ("Minimum2", torch.minimum(a, b))]:
        module, _ = build(name, [(3, 4), (3, 1)])
        torch.testing.assert_close(module(a, b), expected)
        assert get_spec(name).infer([(3, 4), (3, 1)], {}) == (3, 4)
    assert get_spec("Sub2").inputs == ("x", "R") and get_spec("Sub2").nnc.pins == ("R",)
    assert get_spec("Maximum2").nnc.multiple


def test_math_functions():
    x = torch.tensor([[0.5, 1.0, 2.0]])
    for name, expected in [("Abs", (-x).abs()), ("Exp", x.exp()), ("Log", x.log())]:
        module, _ = build(name, [(3,)])
        torch.testing.assert_close(module(-x if name == "Abs" else x), expected)


@pytest.mark.parametrize("name, reduce", [("Sum", torch.sum), ("Mean", torch.mean),
                                          ("Max", torch.amax), ("Min", torch.amin)])
def test_reductions_drop_or_keep_their_axes(name, reduce):
    spec = get_spec(name)
    x = torch.randn(2, 3, 8, 6)
    for axes, keep, shape in [((1, 2), False, (3,)), ((1,), True, (3, 1, 6)),
                              ((0, 1, 2), False, ()), ((0, 2), True, (1, 8, 1))]:
        module, props = build(name, [(3, 8, 6)], Axes=axes, KeepDims=keep)
        assert spec.infer([(3, 8, 6)], props) == shape  # NNC's shapes (NNC shows () as 1)
        torch.testing.assert_close(module(x), reduce(x, dim=tuple(a + 1 for a in axes),
                                                     keepdim=keep))
    assert "twice" in refusal(name, [(3, 8)], Axes=(1, 1))
    assert "past" in refusal(name, [(3, 8)], Axes=(2,))


# ---- array layers --------------------------------------------------------------------------

@pytest.mark.parametrize("mode, numpy_mode", [("constant", "constant"), ("reflect", "reflect"),
                                              ("repeat", "edge")])
def test_pad_matches_numpy(mode, numpy_mode):
    x = np.arange(3 * 8 * 6, dtype=np.float32).reshape(1, 3, 8, 6)
    module, props = build("Pad", [(3, 8, 6)], PadWidth=(1, 2, 3, 4), Mode=mode,
                          ConstantValue=-1.0)
    assert get_spec("Pad").infer([(3, 8, 6)], props) == (3, 11, 13)
    extra = {"constant_values": -1.0} if mode == "constant" else {}
    expected = np.pad(x, ((0, 0), (0, 0), (1, 2), (3, 4)), mode=numpy_mode, **extra)
    assert np.array_equal(module(torch.from_numpy(x)).numpy(), expected)
    # nnc.md's example: [1, 2, 3, 4] reflected by 3 on each side
    row, _ = build("Pad", [(4,)], PadWidth=(3, 3), Mode="reflect")
    assert row(torch.tensor([[1.0, 2, 3, 4]])).tolist() == [[4, 3, 2, 1, 2, 3, 4, 3, 2, 1]]
    spec = get_spec("Pad")
    assert spec.infer([(3, 8, 6)], spec.parse_props({"PadWidth": (1, 1)})) == (3, 8, 8)
    assert spec.infer([(3, 8, 6)], spec.parse_props({"PadWidth": (1,) * 6})) == (5, 10, 8)
    assert "pairs" in refusal("Pad", [(3, 8)], PadWidth=(1, 1, 1))


def test_flip_unpooling_and_sum_pooling():
    x = torch.randn(2, 3, 8, 6)
    flip, _ = build("Flip", [(3, 8, 6)], Axes=(0, 2))
    assert torch.equal(flip(x), torch.flip(x, dims=(1, 3)))

    unpool, props = build("Unpooling", [(3, 8, 6)], KernelShape=(2, 3))
    assert get_spec("Unpooling").infer([(3, 8, 6)], props) == (3, 16, 18)
    assert torch.equal(unpool(x), x.repeat_interleave(2, dim=2).repeat_interleave(3, dim=3))
    assert get_spec("Unpooling").infer([(3, 8)], {"KernelShape": (2,)}) == (3, 16)

    spec = get_spec("SumPooling")
    pool, props = build("SumPooling", [(3, 9, 9)], KernelShape=(2, 2), Strides=(2, 2))
    assert spec.infer([(3, 9, 9)], props) == (3, 4, 4)
    y = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(pool(y), torch.nn.functional.avg_pool2d(y, 2) * 4)
    ceil, props = build("SumPooling", [(3, 9, 9)], KernelShape=(2, 2), Strides=(2, 2),
                        IgnoreBorder=False)
    assert spec.infer([(3, 9, 9)], props) == (3, 5, 5)
    torch.testing.assert_close(ceil(y)[:, :, 4, 4], y[:, :, 8, 8])  # the last, partial window


def test_one_hot():
    spec = get_spec("OneHot")
    module, props = build("OneHot", [(1,)], Shape=(10,))
    assert spec.infer([(1,)], props) == (10,)
    y = module(torch.tensor([[3.0], [-1.0], [10.0], [-11.0]]))
    assert y.argmax(1).tolist()[:2] == [3, 9] and y.sum(1).tolist() == [1, 1, 0, 0]
    assert spec.infer([(8, 1)], props) == (8, 10)
    block, props = build("OneHot", [(4, 2)], Shape=(10, 5))
    assert spec.infer([(4, 2)], props) == (4, 10, 5)
    out = block(torch.tensor([[[2.0, 3.0]] * 4]))
    assert out[0, 0, 2, 3] == 1 and out.sum() == 4
    assert "last axis" in refusal("OneHot", [(3,)], Shape=(10,))


# ---- augmentation: training only -----------------------------------------------------------

def test_random_flip_flips_whole_samples_in_training_only():
    module, _ = build("RandomFlip", [(3, 4, 5)], Axes=(2,))
    x = torch.randn(64, 3, 4, 5)
    torch.manual_seed(0)
    y = module(x)
    flipped = [torch.equal(y[i], x[i].flip(2)) for i in range(64)]
    assert all(f or torch.equal(y[i], x[i]) for i, f in enumerate(flipped))
    assert 10 < sum(flipped) < 54
    module.eval()
    assert module(x) is x


@pytest.mark.parametrize("mode, numpy_mode", [("nearest", "edge"), ("reflect", "symmetric")])
def test_random_shift_moves_each_sample_by_up_to_shift(mode, numpy_mode):
    module, _ = build("RandomShift", [(1, 6, 7)], Shift=(2, 3), BorderMode=mode)
    x = torch.randn(32, 1, 6, 7)
    torch.manual_seed(1)
    y = module(x).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (3, 3)), mode=numpy_mode)
    moves = set()
    for i in range(32):  # each output is a window of the padded input, at most Shift away
        found = [(dy, dx) for dy in range(5) for dx in range(7)
                 if np.array_equal(padded[i, :, dy:dy + 6, dx:dx + 7], y[i])]
        assert found, i
        moves.add(found[0])
    assert len(moves) > 5
    module.eval()
    assert module(x) is x


def test_image_augmentation_defaults_leave_images_alone_even_in_training():
    module, _ = build("ImageAugmentation", [(3, 8, 10)])
    x = torch.rand(4, 3, 8, 10)
    torch.testing.assert_close(module(x), x)
    module.eval()
    torch.testing.assert_close(module(x), x)


def test_image_augmentation_flips_and_crops():
    module, props = build("ImageAugmentation", [(1, 8, 10)], FlipLR=True)
    x = torch.rand(32, 1, 8, 10)
    torch.manual_seed(0)
    y = module(x)
    flipped = [torch.allclose(y[i], x[i].flip(2), atol=1e-6) for i in range(32)]
    assert all(f or torch.allclose(y[i], x[i], atol=1e-6) for i, f in enumerate(flipped))
    assert 4 < sum(flipped) < 28
    crop, props = build("ImageAugmentation", [(1, 8, 10)], Shape=(1, 4, 6), Brightness=0.2)
    assert get_spec("ImageAugmentation").infer([(1, 8, 10)], props) == (1, 4, 6)
    assert crop(x).shape == (32, 1, 4, 6)
    crop.eval()
    assert torch.equal(crop(x), x[:, :, 2:6, 2:8])  # inference: the centre
    assert "axes before H×W" in refusal("ImageAugmentation", [(1, 8, 10)], Shape=(3, 8, 10))


def test_image_augmentation_brightness_and_contrast_stay_in_their_ranges():
    module, _ = build("ImageAugmentation", [(1, 4, 4)], Brightness=0.1)
    x = torch.full((50, 1, 4, 4), 0.5)
    shift = (module(x) - x)[:, 0, 0, 0]
    assert shift.abs().max() <= 0.1 + 1e-6 and shift.std() > 0.02
    module, _ = build("ImageAugmentation", [(1, 4, 4)], Contrast=2.0)
    x = torch.full((50, 1, 4, 4), 0.75)
    factor = ((module(x) - 0.5) / 0.25)[:, 0, 0, 0]
    assert factor.min() >= 0.5 - 1e-5 and factor.max() <= 2 + 1e-5
    assert math.isclose(float(factor.log().mean()), 0.0, abs_tol=0.25)
