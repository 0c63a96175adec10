"""The architectures a model file may name, in plain words for menus, without importing torch (the Training tab's
form and the CLI's argument parser use them; core.model holds the networks themselves)."""

from __future__ import annotations

DEFAULT_ARCHITECTURE = "MnistCNN"
DEFAULT_CLASSES = 10
MIN_CLASSES, MAX_CLASSES = 2, 1000

# name (as a model file's metadata records it) → plain words for menus; the order is the menus' order
ARCHITECTURE_TITLES: dict[str, str] = {
    "MnistCNN": "The article's CNN",
    "MLP": "Two-layer MLP",
    "LeNet5": "LeNet-5",
    "SmallCNN": "TRADES SmallCNN",
}
# one plain line each, for tooltips
ARCHITECTURE_TIPS: dict[str, str] = {
    "MnistCNN": "Two convolution layers and two fully connected ones (421,642 weights): the network the article "
                "attacks.",
    "MLP": "No convolutions: every pixel feeds 128 hidden units, which give the 10 scores (101,770 weights), like "
           "the small dense network of the adversarial.js demo.",
    "LeNet5": "LeCun's classic small network (two 5×5 convolution layers, three fully connected ones, 61,706 "
              "weights), with ReLU and max-pooling as it is usually built today.",
    "SmallCNN": "Four convolution layers and three fully connected ones (312,202 weights): the MNIST model of the "
                "TRADES paper (Zhang et al. 2019).",
}
ARCHITECTURE_NAMES: tuple[str, ...] = tuple(ARCHITECTURE_TITLES)


def architecture_title(name: str) -> str:
    """The plain title of an architecture, or its name when it is not one of ours."""
    return ARCHITECTURE_TITLES.get(name, name)


def check_num_classes(value) -> int:
    """`value` as a class count: a whole number from MIN_CLASSES to MAX_CLASSES (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_CLASSES <= value <= MAX_CLASSES:
        raise ValueError(f"the number of classes must be a whole number from {MIN_CLASSES} to {MAX_CLASSES}, "
                         f"not {value!r}"[:200])
    return value
