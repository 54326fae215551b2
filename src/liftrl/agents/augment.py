"""DrQ's image augmentation: a random shift of up to ``pad`` pixels (Yarats et al. 2021).

Same method as the DrQ-v2 reference (``RandomShiftsAug``): replicate-pad the image by ``pad``, then
crop it back to its size at a random integer offset, done for every sample at once with
``grid_sample`` at the padded image's pixel centres (so values are copied, not blurred). The only
randomness comes from ``generator``, so an agent that owns its generator can resume exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image of ``x`` (B, C, H, W, float) by its own integer offset in [-pad, pad]^2.

    Borders are filled by replicating the edge pixels. ``pad == 0`` returns ``x`` unchanged.
    ``generator`` must live on ``x``'s device; None uses the global torch RNG.
    """
    if not x.is_floating_point():
        raise TypeError(f"random_shift needs a float tensor (got {x.dtype}); convert uint8 frames with .float()")
    if x.dim() != 4:
        raise ValueError(f"random_shift needs (B, C, H, W), got shape {tuple(x.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if pad == 0:
        return x
    n, _, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")

    # Centres of the padded image's pixels in grid_sample's [-1, 1] coordinates (align_corners=False);
    # the first h (w) of them address an unshifted crop of the padded image's top-left corner.
    hp, wp = h + 2 * pad, w + 2 * pad
    ys = torch.linspace(-1.0 + 1.0 / hp, 1.0 - 1.0 / hp, hp, device=x.device, dtype=x.dtype)[:h]
    xs = torch.linspace(-1.0 + 1.0 / wp, 1.0 - 1.0 / wp, wp, device=x.device, dtype=x.dtype)[:w]
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")  # each (h, w)
    base = torch.stack([grid_x, grid_y], dim=-1).unsqueeze(0)  # (1, h, w, 2), last dim = (x, y)

    # Per-sample crop offset in whole padded pixels, 0..2*pad: content moves by (pad - offset).
    offset = torch.randint(0, 2 * pad + 1, (n, 1, 1, 2), device=x.device, generator=generator).to(x.dtype)
    pixel = torch.tensor([2.0 / wp, 2.0 / hp], device=x.device, dtype=x.dtype)
    return F.grid_sample(x, base + offset * pixel, mode="bilinear", padding_mode="zeros", align_corners=False)
