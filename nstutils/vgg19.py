"""VGG19 in one place: layer names, channels, shapes, receptive fields, preprocessing and the forward pass.

The architecture is a table that needs neither TensorFlow nor the weights, used by the
feature extractor, the weight loaders, the experiments and the benchmark. :func:`preprocess`
and :func:`forward` (the one VGG19 forward pass, used by :class:`nstutils.features.FeatureExtractor`
and :mod:`nstutils.normalize`) import TensorFlow when called.
Layer names may be Keras' (``block4_conv2``) or the paper's (``conv4_2``, ``relu4_2``,
``pool4``). Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

from .errors import SettingsError

if TYPE_CHECKING:  # for the annotations only: TensorFlow is imported when a function needs it
    import tensorflow as tf

#: An image or batch of images: a numpy array, a tensor or nested lists, values in [0, 1].
ImageLike = Any

#: Caffe's ImageNet mean in BGR order, subtracted from 0-255 pixels (``01_cnn_features``).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

#: Convolutions per block, and output channels of every convolution in a block.
BLOCK_CONVS: Dict[int, int] = {1: 2, 2: 2, 3: 4, 4: 4, 5: 4}
BLOCK_CHANNELS: Dict[int, int] = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}

#: Every VGG19 layer up to the last pooling layer, in order (ReLU is part of each conv).
LAYERS: Tuple[str, ...] = tuple(
    name
    for block, count in BLOCK_CONVS.items()
    for name in [f"block{block}_conv{i}" for i in range(1, count + 1)] + [f"block{block}_pool"]
)

#: The 16 convolution layers, in order.
CONV_LAYERS: Tuple[str, ...] = tuple(name for name in LAYERS if not name.endswith("pool"))

_KERAS = re.compile(r"^block(\d)_(?:conv(\d)|pool)$")
_PAPER = re.compile(r"^(conv|relu)(\d)_(\d)$|^pool(\d)$")


def layer_name(name: str) -> str:
    """Return the Keras name of a VGG19 layer given as ``block4_conv2``, ``conv4_2`` or ``relu4_2``.

    Unknown names raise :class:`SettingsError` with a "did you mean" suggestion.
    """
    if not isinstance(name, str):
        raise SettingsError(f"layer names are strings like 'block4_conv2', got {name!r}")
    text = name.strip()
    match = _PAPER.match(text.lower())
    if match:
        text = f"block{match[4]}_pool" if match[4] else f"block{match[2]}_conv{match[3]}"
    if text in LAYERS:
        return text
    paper_names = [paper_layer_name(layer) for layer in LAYERS]
    close = difflib.get_close_matches(name.strip(), list(LAYERS) + paper_names, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SettingsError(f"unknown VGG19 layer {name!r}.{hint} Layers: {', '.join(LAYERS)}")


def layer_names(names: Iterable[str] | str) -> List[str]:
    """Normalise a list of layer names (a single string counts as one name); no duplicates."""
    if isinstance(names, str):
        names = [names]
    result: List[str] = []
    for name in names:
        keras_name = layer_name(name)
        if keras_name not in result:
            result.append(keras_name)
    return result


def block(name: str) -> int:
    """The block (1-5) a layer belongs to: ``conv4_2`` -> 4."""
    return int(_KERAS.match(layer_name(name))[1])


def is_pool(name: str) -> bool:
    """True for the five pooling layers."""
    return layer_name(name).endswith("pool")


def paper_layer_name(name: str) -> str:
    """The paper's name of a layer: ``block4_conv2`` -> ``conv4_2``, ``block1_pool`` -> ``pool1``."""
    match = _KERAS.match(layer_name(name) if name not in LAYERS else name)
    return f"pool{match[1]}" if match[2] is None else f"conv{match[1]}_{match[2]}"


def channels(name: str) -> int:
    """Channels of a layer's output (``N_l`` in the paper)."""
    return BLOCK_CHANNELS[block(name)]


def pools_before(name: str) -> int:
    """How many pooling layers the input passes before reaching ``name`` (its output included for pools)."""
    last = layer_name(name)
    return sum(1 for layer in LAYERS[: LAYERS.index(last) + 1] if layer.endswith("pool"))


def min_side(layers: Iterable[str]) -> int:
    """The shortest image side (px) VGG19 can take up to the deepest of ``layers``: each 2×2 pooling on
    the way halves it, and a side that reaches 0 crashes TensorFlow's MaxPool (16 px for ``conv5_1``)."""
    return 2 ** max((pools_before(name) for name in layers), default=0)


def output_shape(name: str, height: int, width: int) -> Tuple[int, int, int]:
    """``(h, w, channels)`` of a layer's output for an input of ``height × width`` pixels.

    ``M_l = h·w`` positions and ``N_l = channels`` in the paper's notation.
    """
    pools = pools_before(name)
    return height // 2 ** pools, width // 2 ** pools, channels(name)


def kernel_shapes() -> Dict[str, Tuple[int, int, int, int]]:
    """Kernel shape (3, 3, in, out), Keras layout, of each convolution."""
    shapes, previous = {}, 3
    for name in CONV_LAYERS:
        out = channels(name)
        shapes[name] = (3, 3, previous, out)
        previous = out
    return shapes


KERNEL_SHAPES: Dict[str, Tuple[int, int, int, int]] = kernel_shapes()


def receptive_field(name: str) -> int:
    """Side, in input pixels, of the region one unit of layer ``name`` can see.

    Each 3×3 conv adds 2·jump pixels; each 2×2 pooling doubles the jump.
    """
    last = layer_name(name)
    size, jump = 1, 1
    for layer in LAYERS[: LAYERS.index(last) + 1]:
        if layer.endswith("pool"):
            size += jump
            jump *= 2
        else:
            size += 2 * jump
    return size


def describe_vgg19(height: int = 224, width: int = 224) -> List[Dict[str, object]]:
    """One row per layer: name, paper name, output shape, parameters, receptive field.

    Shows the architecture without running anything (used in ``01_cnn_features``).
    """
    shapes = KERNEL_SHAPES
    rows = []
    for name in LAYERS:
        params = 0 if is_pool(name) else shapes[name][2] * shapes[name][3] * 9 + shapes[name][3]
        rows.append({"layer": name, "paper": paper_layer_name(name), "output": output_shape(name, height, width),
                     "parameters": params, "receptive_field": receptive_field(name)})
    return rows


def conv_flops(height: int, width: int, deepest: str = "block5_conv2") -> float:
    """FLOPs of the convolutions up to ``deepest`` for one ``height × width`` image (forward only).

    A 3×3 convolution costs ``2·h·w·9·C_in·C_out``; the gradient with respect to the
    input costs the same again (the benchmark reports both).
    """
    total = 0.0
    last = layer_name(deepest)
    for name in LAYERS[: LAYERS.index(last) + 1]:
        if is_pool(name):
            continue
        h, w, out = output_shape(name, height, width)
        total += 2.0 * h * w * 9 * KERNEL_SHAPES[name][2] * out
    return total


def preprocess(image: ImageLike) -> "tf.Tensor":
    """Caffe preprocessing: [0, 1] RGB -> 0-255 BGR with the ImageNet mean removed (``01_cnn_features``)."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, dtype=tf.float32)
    return image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR


def forward(params: Mapping[str, Tuple["tf.Tensor", "tf.Tensor"]], image: ImageLike, path: Sequence[str],
            wanted: Iterable[str], pooling: str = "max") -> Dict[str, "tf.Tensor"]:
    """Run VGG19 on ``image`` ([B, H, W, 3] in [0, 1]) along ``path``; return ``{layer: float32 output}`` for ``wanted``.

    ``params`` maps each conv layer of ``path`` to ``(kernel, bias)`` tensors; each layer computes in
    its kernel's dtype (the input is cast to it), each conv is followed by its ReLU (as in Keras'
    VGG19), and ``pooling`` is ``"max"`` or ``"avg"``. Outputs come in ``path`` order. The one
    forward pass of the package (``01_cnn_features``).
    """
    import tensorflow as tf

    wanted = set(wanted)
    pool = tf.nn.max_pool2d if pooling == "max" else tf.nn.avg_pool2d
    x = tf.cast(preprocess(image), tf.float32)
    outputs = {}
    for name in path:
        if name.endswith("pool"):
            x = pool(x, 2, 2, "VALID")
        else:
            kernel, bias = params[name]
            x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(tf.cast(x, kernel.dtype), kernel, 1, "SAME"), bias))
        if name in wanted:
            outputs[name] = tf.cast(x, tf.float32)
    return outputs
