"""Mixed precision for the pixel agents (``train.amp``): where bfloat16 autocast pays, and its context.

Why bfloat16: it has float32's exponent range, so no loss scaler is needed, and the weights, the
optimiser state and the losses stay float32 (autocast only runs the convolutions and matrix
products in bfloat16, accumulating in float32).

Why on a CPU too: DrQ-v2's encoder is almost all 3x3 convolutions, and one float32 update of it
already runs near a core's float32 peak. A CPU with native bfloat16 dot products (AVX512-BF16,
or AMX tiles) does twice the work per instruction, and oneDNN uses them for convolutions and
matrix products (the measured speed-ups: ``bench/learner.py --amp`` and ``bench/student_update.py``,
in docs/performance.md). A CPU without them would emulate
bfloat16 by conversions, slower than float32, so ``amp`` is ignored there with a warning, as on
any device that is neither.
"""

from __future__ import annotations

import contextlib
import warnings

import torch


def cpu_has_native_bf16() -> bool:
    """True when this CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX) and oneDNN is built in.

    torch exposes the CPU checks only as private functions; any change there reads as False (float32).
    """
    try:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except Exception:  # noqa: BLE001 - a private API that moved means: do not risk the slow path
        return False
    return bool(native) and torch.backends.mkldnn.is_available()


def use_amp(amp: bool, device: torch.device) -> bool:
    """Whether ``amp`` takes effect on ``device``; warns, naming the reason, when it is asked for and cannot."""
    if not amp:
        return False
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        if cpu_has_native_bf16():
            return True
        reason = "this CPU has no native bfloat16 (AVX512-BF16 or AMX), where bfloat16 is slower than float32"
    else:
        reason = f"mixed precision runs on CUDA and on CPUs with native bfloat16, not on {device.type}"
    warnings.warn(f"amp=True is ignored on device {device}: {reason}", stacklevel=3)
    return False


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device`` when ``enabled``, else a context that does nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
