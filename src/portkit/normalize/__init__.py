"""ONNX graph normalisation: rewrite what a wrapped converter cannot take, before it runs.

A package of pass modules, each declaring the tool it serves (TOOL): common (any tool), opset
(onnx2torch's maximum opset), onnx2torch, shapes, onnx2tf, vision and terms (onnx2tf), check (the onnxruntime
check), helpers.
Each rewrite is one small function that changes a ModelProto in place (or returns a new one) and returns a
note per change. `normalize` runs the rewrites a tool needs, then checks the rewritten model against the
original with onnxruntime on the same random inputs (dtype- and range-aware: token ids stay below the
vocabulary) and raises ConversionFailed when they differ. This is why portkit converts models the bare tools
stop on:

- alias_initializers: the TorchScript exporter deduplicates equal weights behind Identity nodes
  (`onnx::Conv_177 = Identity(layer1.0.conv1.weight)`); onnx2torch looks weights up as initializers
  and raises KeyError. Consumers are pointed at the initializer itself.
- decompose_gelu / decompose_layernorm: ops newer than the tool's opset that `onnx.version_converter`
  cannot lower are written out in older ops first.
- split_to_slices: Split of opset 18 (`num_outputs`) → Slices, which version_converter can lower.
- hide_unchanged_ops: ConstantOfShape (opset 20) and Pad (18) used as their older versions define them are
  passed through version_converter untouched (it has no adapter for them).
- lower_opset: onnx.version_converter to the tool's maximum opset (and the attribute it leaves behind).
- drop_reshape_allowzero: Reshape's allowzero=1 where the constant shape has no 0 (it cannot matter).
- bool_arithmetic: Mul/Add on bool tensors (attention masks) become And/Or.
- constant_reshape_shapes (onnx2tf only): Reshape targets computed from Shape ops → constants with 0s
  where symbolic shape inference proves each dim fixed or kept (onnx2tf mis-transposes computed ones).
- split_unsqueeze (onnx2tf only): multi-axis Unsqueeze of a tensor with ≥ 2 dynamic dims → one per axis.
- absorbed_expand (onnx2tf only): an Expand by a computed shape whose broadcast every use absorbs (a causal
  mask expanded to the batch, then added to the scores) → its input (onnx2tf lost the mask's fixed dims).
- constant_lookup (onnx2tf only): an embedding looked up by ids that are all one constant (MobileBERT's
  token types, zeros of the input's shape) → that row expanded; absorbed_expand then drops the Expand where
  the Add into the other embeddings broadcasts anyway (onnx2tf lost the lookup's dims).
- lookup_shifts (onnx2tf only): an embedding lookup sliced and zero-padded along the tokens (MobileBERT's
  trigram input) → the Slice and Pad on the 2-D ids, the pad a row appended to the table (onnx2tf cannot tell
  a 3-D tensor's axes apart where the sequence equals the embedding size, and sliced the wrong one); a
  negative end on a dynamic axis (`ids[:, :-1]`) is computed from Shape (onnx2tf sliced to the whole length).
- int32_slice_bounds (onnx2tf only): constant Slice bounds beyond int32 on an axis of unknown size
  (`ids[:, 1:]`'s INT64_MAX end) → clipped to int32 (TFLite stores them as int32: INT64_MAX became -1).
- split_concat_matmul (onnx2tf only): MatMul of a last-axis Concat by a constant weight → a sum of MatMuls
  of the parts (onnx2tf took a 3-D tensor with equal dims after the batch for channels-first and
  concatenated along the sequence).
- integer_abs (onnx2tf only): Abs of an int64 tensor (relative position buckets at a dynamic sequence) →
  Max(x, Neg(x)) (TFLite's ABS takes no int64: a Select TF op the LiteRT interpreter cannot run).
- bias_after_reshape (onnx2tf only): a projection's bias added before its split into heads → after it (onnx2tf
  took a [batch, 16, 16] key projection, sequence = one head's width, for channels-first and transposed it).
- square_reshape_inputs (onnx2tf only): a Reshape of a float [N, a, a] sum → through an identity MatMul (onnx2tf
  transposed DeBERTa's [batch·heads, 16, 16] scores, taking them for channels-first, before the Reshape).
- repeated_heads (onnx2tf only, attention.py): key/value heads repeated for grouped-query attention through a
  5-D Unsqueeze → Expand → Reshape → one Gather of the heads (onnx2tf broadcast the 5-D tensor on the wrong
  axes at a dynamic sequence: Llama, Qwen2, Mistral, Gemma).
- flattened_rows (onnx2tf only, attention.py): a feed-forward block computed on a [-1, K] view and viewed
  back (OPT) → the same row-wise ops on the unflattened tensor (onnx2tf lost the last dim at a dynamic sequence).
- bool_expand (onnx2tf only): Expand of a bool tensor goes through int32 (onnx2tf multiplies bools).
- prepended_tokens (onnx2tf only): ViT's class token broadcast and concatenated before the patches → Pad +
  Add of a constant (onnx2tf transposed the (1, 1, D) token as if it were channels-first).
- flat_gathernd (onnx2tf only): GatherND by (row, col) index grids (transformers' padding masks under
  torch.export) → Gather of the flattened data (onnx2tf lost the grid's rank).
- static_shape_values (onnx2tf only): shape arithmetic every value of which the static dims fix (a fixed
  sequence length: position ids sliced to Shape(ids)[1]) → constants, and what then has only constant inputs
  folded (onnx2tf lost such dims when batch stays dynamic). Repeated with constant_reshape_shapes until
  nothing changes: a reshape target made constant fixes the shapes after it (the TorchScript exporter's
  channel shuffle in shufflenet: each block's chunk bounds come from the previous block's reshape).
- partial_shape_inputs (onnx2tf only): an Expand / ConstantOfShape shape fixed in all dims but the dynamic
  ones (a mask broadcast to [batch, 1, S, S]) → Concat of constants and Slices; an Expand becomes an Add of
  zeros of that shape (TensorFlow then keeps the fixed dims); an Expand whose dynamic dims symbolic shape
  inference proves kept from its input (GQA's repeat_kv keeps the batch) gets a constant shape, 1 there.
- constant_expand (onnx2tf only): Expand of a constant buffer → Add of zeros (onnx2tf returned the buffer
  unexpanded).
- scalar_operands (onnx2tf only): 0-d constant operands of Add/Sub/Mul/Div → shape [1] (onnx2tf's
  re-check of an op with repeated dims took a 0-d constant for a layer).
- resize_scales (onnx2tf only, vision.py): Resize to sizes computed at run time (batch from Shape) with
  static spatial dims → constant scales (onnx2tf's tf.image.resize could not read the target size: timm
  GhostNetV2); a nearest resize of an uneven ratio (3 → 7), constant sizes too, → a Gather per axis (from
  opset 18 onnx2tf resizes with half-pixel centres whatever the coordinate mode).
- decompose_reduce_l2 (onnx2tf only, vision.py): ReduceL2 → Sqrt(ReduceSum(x·x)) (onnx2tf's tf.norm failed on
  EdgeNeXt's cross-covariance attention, F.normalize of a 4-D tensor).
- generated_constants (onnx2tf only, terms.py): a tensor computed from small constants alone, too large for
  static_shape_values' fold, read by the data → an initializer (swin_t's shifted-window mask under the
  TorchScript exporter: onnx2tf failed on a Sub of two constants).
- shape_only_terms (onnx2tf only, terms.py): a term computed from the input's shape alone (EdgeNeXt's Fourier
  positional encoding, built from zeros(B, H, W)) and broadcast into the data → its first row as a constant,
  where onnxruntime finds every row equal at batch 2 and 3 (onnx2tf built it from the run-time batch and
  sliced the square [B, 32, 32] cumulative sum along the wrong axis: the TFLite could not be prepared).
- split_comparisons (onnx2torch only): GreaterOrEqual / LessOrEqual (opset 12, which onnx2torch has no
  converter for; transformers' attention masks use them) → Not(Less) / Not(Greater).

Needs only onnx (and onnxruntime for the check); imports no framework.
"""
from __future__ import annotations

from typing import Any

from .attention import flattened_rows, repeated_heads
from .check import check_equivalent
from .common import alias_initializers, bool_arithmetic, drop_reshape_allowzero
from .onnx2tf import (
    absorbed_expand,
    bias_after_reshape,
    bool_expand,
    constant_expand,
    constant_lookup,
    flat_gathernd,
    integer_abs,
    lookup_shifts,
    prepended_tokens,
    scalar_operands,
    split_concat_matmul,
    square_reshape_inputs,
    unflatten_gemm,
)
from .onnx2torch import split_comparisons
from .opset import (
    decompose_gelu,
    decompose_layernorm,
    hide_unchanged_ops,
    lower_opset,
    restore_hidden_ops,
    split_to_slices,
)
from .shapes import (
    collapse_reshapes,
    constant_reshape_shapes,
    fold_constants,
    index_grid_gather,
    int32_slice_bounds,
    partial_shape_inputs,
    split_unsqueeze,
    static_shape_values,
)
from .terms import generated_constants, shape_only_terms
from .vision import decompose_reduce_l2, resize_scales

__all__ = [
    "absorbed_expand",
    "alias_initializers",
    "bias_after_reshape",
    "bool_arithmetic",
    "bool_expand",
    "check_equivalent",
    "collapse_reshapes",
    "constant_expand",
    "constant_lookup",
    "constant_reshape_shapes",
    "decompose_gelu",
    "decompose_reduce_l2",
    "decompose_layernorm",
    "drop_reshape_allowzero",
    "flat_gathernd",
    "flattened_rows",
    "fold_constants",
    "hide_unchanged_ops",
    "index_grid_gather",
    "int32_slice_bounds",
    "integer_abs",
    "lookup_shifts",
    "lower_opset",
    "normalize",
    "partial_shape_inputs",
    "prepended_tokens",
    "repeated_heads",
    "resize_scales",
    "restore_hidden_ops",
    "scalar_operands",
    "generated_constants",
    "shape_only_terms",
    "split_comparisons",
    "split_concat_matmul",
    "split_to_slices",
    "split_unsqueeze",
    "square_reshape_inputs",
    "static_shape_values",
    "unflatten_gemm",
]


def normalize(model: Any, *, max_opset: int | None = None, hop: str = "normalize",
              shapes: dict[str, tuple[Any, ...]] | None = None,
              ranges: dict[str, tuple[float, float]] | None = None, check: bool = True,
              tool: str = "") -> tuple[Any, list[str]]:
    """Run every rewrite (opset lowering only when `max_opset` is given; tool-specific ones for `tool`) on a
    copy of `model`; check the result against the original with onnxruntime when anything changed.
    Returns (model, notes)."""
    import onnx

    original = model
    model = onnx.ModelProto()
    model.CopyFrom(original)
    notes = alias_initializers(model)
    if max_opset is not None:
        model, lowered = lower_opset(model, max_opset)
        notes += lowered
    notes += drop_reshape_allowzero(model)
    notes += bool_arithmetic(model)
    if tool == "onnx2torch":
        notes += split_comparisons(model)
    if tool == "onnx2tf":
        notes += static_shape_values(model)
        # flat_gathernd first: the Gather it writes for an index grid enumerating the rows in order (the
        # dynamo exporter's padding mask) is then a Reshape, like the TorchScript exporter's
        notes += flat_gathernd(model)
        notes += index_grid_gather(model, shapes, ranges)
        notes += prepended_tokens(model)
        notes += unflatten_gemm(model)
        notes += constant_reshape_shapes(model)
        for _ in range(8):  # a reshape made constant fixes the shapes after it: their arithmetic folds in turn
            more = static_shape_values(model)
            if not more:
                break
            notes += more + constant_reshape_shapes(model)
        notes += generated_constants(model)  # what the folds above left for its size (swin's window mask)
        # again: a flattening Reshape whose target only constant_reshape_shapes made constant (the TorchScript
        # exporter's `x.view(-1, x.size(-1))` at a dynamic sequence: GPT-2's Conv1D) is now recognised
        notes += unflatten_gemm(model)
        notes += repeated_heads(model)
        notes += flattened_rows(model)
        notes += resize_scales(model)
        notes += decompose_reduce_l2(model)
        notes += shape_only_terms(model, shapes, ranges)
        notes += collapse_reshapes(model)
        notes += bias_after_reshape(model)
        notes += square_reshape_inputs(model)
        notes += split_unsqueeze(model)
        notes += constant_lookup(model)
        notes += lookup_shifts(model)
        notes += split_concat_matmul(model)
        notes += absorbed_expand(model)
        notes += bool_expand(model)
        notes += partial_shape_inputs(model)
        notes += constant_expand(model)
        notes += scalar_operands(model)
        notes += integer_abs(model)
        notes += int32_slice_bounds(model)
    if notes and check:
        notes += check_equivalent(original, model, hop=hop, shapes=shapes, ranges=ranges)
    return model, notes

