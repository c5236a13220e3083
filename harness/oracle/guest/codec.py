"""Loss-class state as plain JSON: parameters, optimizer state and Python attributes.

Used to checkpoint a MultiTaskLoss that lives in the oracle: the state crosses the
protocol as JSON and is stored in the checkpoint as a string, so restoring it never
unpickles anything. Supported values: None, bool, int, float (NaN/inf too), str,
tensors, CPU random generators, and lists, tuples and str-keyed dicts of these.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .protocol import MAX_INT_DIGITS

_MODULE_INTERNALS = {
    "training",
    "_parameters",
    "_buffers",
    "_non_persistent_buffers_set",
    "_backward_pre_hooks",
    "_backward_hooks",
    "_is_full_backward_hook",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
    "_modules",
    "_compiled_call_impl",
}


class UnsupportedState(ValueError):
    """A value the codec cannot represent."""


_INT_BOUND = 10**MAX_INT_DIGITS  # the protocol refuses longer integers: refused here already


def _int(value: int, where: str) -> int:
    if abs(value) >= _INT_BOUND:
        raise UnsupportedState(f"{where} holds an integer of more than {MAX_INT_DIGITS} digits")
    return value


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"__float__": repr(value)}


def encode(value: Any, where: str = "state") -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return _int(value, where)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        return {
            "__tensor__": str(tensor.dtype).removeprefix("torch."),
            "shape": list(tensor.shape),
            "data": [_float(v) if isinstance(v, float) else v for v in tensor.reshape(-1).tolist()],
            "requires_grad": bool(value.requires_grad),
        }
    if isinstance(value, torch.Generator) and value.device.type == "cpu":
        return {"__generator__": encode(value.get_state(), where)}
    if isinstance(value, (list, tuple)):
        items = [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise UnsupportedState(f"{where} has keys that are not str or int")
        for key in value:
            if isinstance(key, int):
                _int(key, f"a key of {where}")
        return {"__dict__": [[k, encode(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    raise UnsupportedState(f"{where} is a {type(value).__name__}, which a checkpoint cannot hold")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: decode(v) for k, v in value["__dict__"]}
        if "__generator__" in value:
            generator = torch.Generator()
            generator.set_state(decode(value["__generator__"]))
            return generator
        if "__tensor__" in value:
            dtype = getattr(torch, value["__tensor__"])
            data = [decode(v) for v in value["data"]]
            tensor = torch.tensor(data, dtype=dtype).reshape(value["shape"])
            return tensor.requires_grad_(value.get("requires_grad", False))
        raise UnsupportedState("unknown encoded object")
    return value


def module_state(module: nn.Module, optimizer: torch.optim.Optimizer | None) -> Any:
    """Everything that makes a loss module's future differ from a fresh one."""
    attributes = {k: v for k, v in vars(module).items() if k not in _MODULE_INTERNALS}
    return encode(
        {
            "parameters": module.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "attributes": attributes,
        }
    )


def restore_module_state(module: nn.Module, optimizer: torch.optim.Optimizer | None, state: Any) -> None:
    decoded = decode(state)
    module.load_state_dict(decoded["parameters"])
    if optimizer is not None and decoded["optimizer"] is not None:
        optimizer.load_state_dict(decoded["optimizer"])
    for key, value in decoded["attributes"].items():
        setattr(module, key, value)
