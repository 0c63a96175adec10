"""Why a prediction is what it is: attributions, the loss landscape, the decision plane and the penultimate-layer
projection."""

from advstudio.core.explain.attribution import (
    METHOD_TITLES,
    METHODS,
    SIGNED,
    Attribution,
    attribute,
    gradcam,
    gradcam_layer,
    ink_share,
    integrated_gradients,
    last_conv,
    saliency,
    smoothgrad,
)

__all__ = [
    "METHODS",
    "METHOD_TITLES",
    "SIGNED",
    "Attribution",
    "attribute",
    "gradcam",
    "gradcam_layer",
    "ink_share",
    "integrated_gradients",
    "last_conv",
    "saliency",
    "smoothgrad",
]
