"""Input dtypes a TorchScript graph implies (issue 24 item 6).

A bare `torch.jit.trace(model, (ids, mask)).save(path)` keeps no input dtypes: the saved code says `Tensor`.
The graph still says how each input is used: an input that reaches `aten::embedding` as its indices (through
slicing, views and the like) holds integer token ids; one used as an index (`index_select`, `gather`,
`index`), as a size (`aten::Int`), or a `*mask*` input that is cast or compared before use is an integer
mask. Those inputs get int64 (the dtype PyTorch's own index and embedding ops take) without --input-dtype;
`infer_input_dtypes` says why for each, and the command prints it as a note.

Called with torch already loaded (a TorchScript module in hand).
"""
from __future__ import annotations

from typing import Any

__all__ = ["infer_input_dtypes"]

# ops whose first input passes through with its dtype (a slice of ids is still ids)
_PASS = {"aten::slice", "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::view", "aten::reshape",
         "aten::expand", "aten::expand_as", "aten::contiguous", "aten::flatten", "aten::clone", "aten::detach",
         "aten::permute", "aten::transpose", "aten::repeat", "aten::narrow", "aten::unflatten", "aten::t"}
# (op, argument position) → what an input used there is
_USES = {("aten::embedding", 1): "embedding indices", ("aten::embedding_bag", 1): "embedding indices",
         ("aten::index_select", 2): "an index", ("aten::gather", 2): "an index", ("aten::take", 1): "an index",
         ("aten::one_hot", 0): "an index", ("aten::Int", 0): "a size", ("aten::IntImplicit", 0): "a size",
         ("aten::ScalarImplicit", 0): "a size"}
_MASK_USES = {"aten::to", "aten::eq", "aten::ne", "aten::__and__", "aten::__or__", "aten::logical_not",
              "aten::bitwise_not", "aten::masked_fill", "aten::where", "aten::cumsum", "aten::type_as"}
MAX_DEPTH = 12


def _kind(value: Any, name: str, depth: int = 0) -> str | None:
    """What `value` (a graph value) is used as, following dtype-preserving ops; None when nothing says."""
    if depth > MAX_DEPTH:
        return None
    for use in value.uses():
        node, pos = use.user, use.offset
        op = node.kind()
        found = _USES.get((op, pos))
        if found:
            return found
        if op == "prim::ListConstruct":  # x[idx]: aten::index(data, [idx, ...]) takes idx as an index
            if any(u.user.kind() in ("aten::index", "aten::index_put", "aten::index_put_") and u.offset == 1
                   for o in node.outputs() for u in o.uses()):
                return "an index"
            continue
        if "mask" in name.lower() and op in _MASK_USES:
            return "a mask"
        if op in _PASS and pos == 0:
            found = next((k for o in node.outputs() if (k := _kind(o, name, depth + 1))), None)
            if found:
                return found
    return None


def infer_input_dtypes(module: Any) -> dict[str, tuple[str, str]]:
    """{input name: (dtype, why)} for the inputs of a TorchScript module's forward that its graph shows are
    integers; empty for an eager module or when the graph cannot be read."""
    try:
        import torch

        graph = module.forward.graph.copy()
        torch._C._jit_pass_inline(graph)  # submodules' forward calls → their ops, where the embedding is
    except (AttributeError, RuntimeError, ImportError):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for value in list(graph.inputs())[1:]:  # the first is `self`
        name = value.debugName().split(".")[0]
        try:
            kind = _kind(value, name)
        except RuntimeError:  # a graph the bindings cannot walk: say nothing
            kind = None
        if kind:
            out[name] = ("int64", f"used as {kind}")
    return out
