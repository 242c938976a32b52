#!/usr/bin/env python3
"""Generate small synthetic ONNX detectors with planted, image-dependent outputs.

Usage (needs the `onnx` and `numpy` Python packages; on Debian use /usr/bin/python3
with python3-onnx and python3-numpy):

    /usr/bin/python3 scripts/make_test_models.py --out DIR [--heavy-gflops 10] [--selfcheck]

Writes DIR/<name>.onnx for every model below plus DIR/manifest.json. Output is
deterministic (fixed seeds, no timestamps): a second run leaves identical files untouched,
and every file is written to a temporary name and renamed, so a reader never sees half a
file. Models use opset 17 and IR version 8.

Why these models exist
----------------------
Real detectors are large and each family lays its outputs out differently. These models
keep the exact input/output signature of each family (see
shared/reference/model-formats.md) but replace the network with a few ops whose result a
test can predict from the input tensor alone:

* Every model has K=3 planted objects. Object k sits at a fixed anchor/query index, has
  a fixed class and a fixed box (in the family's own box format), and its score is
      s_k = mean(input[b, channel_k, y0_k:y1_k, x0_k:x1_k])        (half-open ranges)
  computed per batch item, so batching can never mix items. The region lies inside the
  object's box. "prob" families output s_k as the score; "logit" families (hf_rtdetr,
  rfdetr) output s_k as the raw logit and the decoder applies sigmoid.
* Every other anchor/query has score 0 (logit -10) and a plausible, distinct dummy box,
  so reading the wrong index yields a wrong box rather than a lucky match.
* yolo adds a near-duplicate of object 0 (same class, IoU ~0.82, score 0.9 * s_0) that
  NMS (IoU 0.45 or 0.7) must remove. It is listed in the manifest with duplicate_of = 0.
* Static variants declare batch 1 AND bake batch 1 into the graph the way real exports
  do (constant Reshape shapes, Tile/Expand of [1,...] constants, ConstantOfShape,
  Slice/Gather/Split/Squeeze on axis 0, Concat with batch-1 constants). Renaming the
  declared leading dims to a symbol is therefore not enough to run batch 2: it either
  fails or silently drops items. The manifest names the patterns of each model.
* Heavy variants add a convolution tower (compute set by --heavy-gflops) whose output
  feeds the planted scores as + 1e-6 * tanh(mean(features)), so no runtime can prune it;
  their planted scores equal s_k within 1e-6.

manifest.json
-------------
{"generator", "format_version", "opset", "ir_version", "heavy_gflops_requested",
 "models": [entry, ...]}; each entry:
  name, file, sha256, family (decoder family: yolo | yolo_e2e | ultralytics_rtdetr |
  hf_rtdetr | official_rtdetr | rfdetr | special), variant (dynamic | static |
  fake_dynamic | heavy | special), batch ("dynamic" or the fixed int), inputs / outputs
  ([{name, dtype, shape}], a symbolic dim is the string "batch"), input_size [H, W],
  num_class_slots, num_slots (anchors or queries), slot_kind ("anchor" | "query"),
  outputs_have_batch_axis, box_native_format, score_kind ("prob" | "logit"),
  input_pixels (only where not float RGB NCHW: "grey" [B,1,H,W] float, score regions on
  channel 0; "u8_nhwc" [B,H,W,3] uint8, the graph computes bytes / 255 in NCHW),
  background ({"score": 0.0} or {"logit": -10.0}; official_rtdetr also label 0),
  baked_batch_patterns (op types), baked_batch_notes (what each does),
  batch2_if_dims_renamed ("ok" | "error" | "wrong_result"), gflops (heavy only, else
  null), score_tolerance, metadata_props, notes, planted: [
    {object, class_id, index, box_native, box_xyxy_px, score_region {channel, x0, y0,
     x1, y1}, score_kind, score_scale, duplicate_of, iou_with_original}]
box_native_format values: cxcywh_px (input-tensor pixels), xyxy_px, cxcywh_norm (0..1 of
the input tensor), xyxy_norm_times_orig_target_sizes (official RT-DETR: the graph outputs
box_native * [w, h, w, h] of orig_target_sizes). box_xyxy_px is always x1,y1,x2,y2 in
input-tensor pixels. The expected score of a planted row is score_scale * s_k (before the
sigmoid for logit families).

--selfcheck re-reads every file, runs onnx.checker (full) and strict shape inference, and
evaluates each graph with a small numpy interpreter: planted rows, background rows and
per-item independence at batch 1 and 2, and that static models really break at batch 2.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # the pyenv python3 on PATH may lack the Debian packages
    sys.exit(f"make_test_models.py needs numpy and onnx ({exc}); try /usr/bin/python3")

OPSET = 17
IR_VERSION = 8  # highest IR that onnx 1.12 writes; ORT of any recent version reads it
BATCH = "batch"
K = 3
BACKGROUND_LOGIT = -10.0
HEAVY_EPS = 1e-6

# ultralytics/cfg/datasets/coco.yaml, 0..79
COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
]
FRUITS3 = ["apple", "banana", "cherry"]

# The planted scene, in pixels of a 640x640 input; other sizes scale it. Values are
# multiples of 10 (regions) so that 320 and 576 inputs get integer regions too.
# (box x1,y1,x2,y2), (region x0,y0,x1,y1), channel.  Objects: person, car, dog.
SCENE640 = [
    ((96, 128, 256, 448), (150, 250, 200, 330), 0),
    ((320, 360, 560, 480), (400, 390, 480, 450), 1),
    ((400, 64, 592, 224), (450, 100, 530, 180), 2),
]
DUPLICATE_SHIFT640 = 16  # x shift of the yolo near-duplicate of object 0: IoU 144/176
CLASSES_COCO80 = [0, 2, 16]   # person, car, dog
CLASSES_COCO91 = [1, 3, 18]   # the same objects as RF-DETR COCO category-id slots
CLASSES_FRUITS = [2, 0, 1]
QUERY_INDICES = [5, 150, 299]
ANCHOR_INDICES_8400 = [17, 4000, 8399]
DUPLICATE_ANCHOR_8400 = 5000


# --------------------------------------------------------------------------------------
# Graph building
# --------------------------------------------------------------------------------------

class Graph:
    """Collects nodes and initializers; every helper returns the output tensor name."""

    def __init__(self, name):
        self.name = name
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def _fresh(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, dtype, hint="const"):
        name = self._fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def i64(self, values, hint="shape"):
        return self.const(values, np.int64, hint)

    def f32(self, values, hint="const"):
        return self.const(values, np.float32, hint)

    def op(self, op_type, inputs, out=None, n_out=1, **attrs):
        outs = [out] if out else [self._fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs,
                                           name=self._fresh("/" + op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def model(self, metadata=None, doc=""):
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="tiledet/make_test_models.py",
                                  producer_version="1", doc_string=doc)
        model.ir_version = IR_VERSION
        if metadata:
            helper.set_model_props(model, metadata)
        return model


def batch_of(g, x):
    """[B] as a 1-D int64 tensor read from x, so shapes built from it follow any batch."""
    return g.op("Shape", [x], start=0, end=1)


def with_batch(g, x, rest):
    return g.op("Concat", [batch_of(g, x), g.i64(rest)], axis=0)


def region_scores(g, x, planted):
    """[B, K] = per-item means of the planted regions of x [B, C, H, W]."""
    cols = []
    for p in planted:
        c, x0, y0, x1, y1 = (p.region[k] for k in ("channel", "x0", "y0", "x1", "y1"))
        sl = g.op("Slice", [x, g.i64([c, y0, x0]), g.i64([c + 1, y1, x1]), g.i64([1, 2, 3])])
        m = g.op("ReduceMean", [sl], axes=[1, 2, 3], keepdims=0)
        cols.append(g.op("Unsqueeze", [m, g.i64([1])]))
    return g.op("Concat", cols, axis=1)


def region_scores_single(g, xi, planted):
    """[K] for one image xi [C, H, W]: what an export's unrolled per-image loop computes."""
    cols = []
    for p in planted:
        c, x0, y0, x1, y1 = (p.region[k] for k in ("channel", "x0", "y0", "x1", "y1"))
        sl = g.op("Slice", [xi, g.i64([c, y0, x0]), g.i64([c + 1, y1, x1]), g.i64([0, 1, 2])])
        m = g.op("ReduceMean", [sl], axes=[0, 1, 2], keepdims=0)
        cols.append(g.op("Unsqueeze", [m, g.i64([0])]))
    return g.op("Concat", cols, axis=0)


def heavy_plan(gflops, size):
    """Conv tower sized for `gflops` per image.

    A stride-4 4x4 stem 3->C gives an (S/4)^2 map, then L 3x3 CxC convs (pad 1) + Relu.
    FLOPs (2 per multiply-add): stem = 2*3*16*C*(S/4)^2, each layer = 2*C*C*9*(S/4)^2,
    so L = round((G*1e9 - stem) / layer). At 640 and C=32 a layer is 0.472 GFLOPs and
    37 KB of weights, i.e. about 78 KB of weights per GFLOP.
    """
    channels, hw = 32, (size // 4) ** 2
    stem = 2 * 3 * 16 * channels * hw
    layer = 2 * channels * channels * 9 * hw
    layers = max(1, int(round((gflops * 1e9 - stem) / layer)))
    return channels, layers, (stem + layers * layer) / 1e9


def heavy_perturbation(g, x, gflops, size):
    """[B, 1] = HEAVY_EPS * tanh(mean(tower(x))): data-dependent, so never constant-folded."""
    channels, layers, achieved = heavy_plan(gflops, size)
    rng = np.random.default_rng(20240611)
    # He-normal keeps activations O(1) through the Relu stack (no inf/NaN at any depth).
    w = rng.normal(0, math.sqrt(2 / 48), (channels, 3, 4, 4))
    h = g.op("Conv", [x, g.f32(w, "stem_w")], kernel_shape=[4, 4], strides=[4, 4])
    h = g.op("Relu", [h])
    for _ in range(layers):
        w = rng.normal(0, math.sqrt(2 / (9 * channels)), (channels, channels, 3, 3))
        h = g.op("Conv", [h, g.f32(w, "conv_w")], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        h = g.op("Relu", [h])
    m = g.op("ReduceMean", [h], axes=[1, 2, 3], keepdims=0)
    t = g.op("Mul", [g.op("Tanh", [m]), g.f32(HEAVY_EPS)])
    return g.op("Unsqueeze", [t, g.i64([1])]), achieved


# --------------------------------------------------------------------------------------
# The planted scene in each family's coordinates
# --------------------------------------------------------------------------------------

class Planted:
    def __init__(self, obj, class_id, index, box_norm, region, scale=1.0, duplicate_of=None):
        self.obj, self.class_id, self.index = obj, class_id, index
        self.box_norm = box_norm  # x1, y1, x2, y2 as fractions of the input tensor
        self.region, self.scale, self.duplicate_of = region, scale, duplicate_of


def scene(size, classes, indices, duplicate_index=None):
    """The K objects (plus the optional yolo duplicate) for a square input of `size`."""
    out = []
    for k, ((bx1, by1, bx2, by2), (rx0, ry0, rx1, ry1), ch) in enumerate(SCENE640):
        s = size / 640
        region = {"channel": ch, "x0": round(rx0 * s), "y0": round(ry0 * s),
                  "x1": round(rx1 * s), "y1": round(ry1 * s)}
        assert region["x1"] > region["x0"] and region["y1"] > region["y0"]
        assert bx1 * s <= region["x0"] and region["x1"] <= bx2 * s  # region inside box
        assert by1 * s <= region["y0"] and region["y1"] <= by2 * s
        out.append(Planted(k, classes[k], indices[k], [v / 640 for v in (bx1, by1, bx2, by2)],
                           region))
    if duplicate_index is not None:
        d = DUPLICATE_SHIFT640 / 640
        b = out[0].box_norm
        out.append(Planted(0, classes[0], duplicate_index, [b[0] + d, b[1], b[2] + d, b[3]],
                           dict(out[0].region), scale=0.9, duplicate_of=0))
    return out


def dummy_boxes_cxcywh(n):
    """Small, distinct, in-frame normalized boxes for every non-planted slot."""
    i = np.arange(n, dtype=np.float64)
    cx = 0.1 + 0.8 * ((i * 7919) % 997) / 997
    cy = 0.1 + 0.8 * ((i * 104729) % 991) / 991
    w = 0.02 + 0.06 * ((i * 31) % 17) / 17
    h = 0.02 + 0.06 * ((i * 17) % 13) / 13
    return np.stack([cx, cy, w, h], axis=1)


def to_format(xyxy_norm, fmt, size):
    x1, y1, x2, y2 = xyxy_norm
    if fmt == "xyxy_px":
        return [x1 * size, y1 * size, x2 * size, y2 * size]
    if fmt == "xyxy_norm_times_orig_target_sizes":
        return [x1, y1, x2, y2]
    cxcywh = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    if fmt == "cxcywh_px":
        return [v * size for v in cxcywh]
    assert fmt == "cxcywh_norm"
    return cxcywh


def box_table(n, planted, fmt, size):
    """[n, 4] float32: dummy boxes, with the planted rows overwritten."""
    d = dummy_boxes_cxcywh(n)
    xyxy = np.stack([d[:, 0] - d[:, 2] / 2, d[:, 1] - d[:, 3] / 2,
                     d[:, 0] + d[:, 2] / 2, d[:, 1] + d[:, 3] / 2], axis=1)
    table = np.array([to_format(b, fmt, size) for b in xyxy], dtype=np.float32)
    for p in planted:
        table[p.index] = to_format(p.box_norm, fmt, size)
    return table


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


def slot_weights(planted, n_slots, n_classes, class_offset=0):
    """Q [n_slots, P] and C [P, n_classes] one-hot factors of the planted score tensor.

    The full score tensor is sum_p s_p * scale_p * onehot(index_p) x onehot(class_p);
    storing its two factors instead of the dense tensor keeps yolo's [84, 8400] small.
    """
    q = np.zeros((n_slots, len(planted)), np.float32)
    c = np.zeros((len(planted), n_classes), np.float32)
    for j, p in enumerate(planted):
        q[p.index, j] = 1.0
        c[j, p.class_id - class_offset] = p.scale
    return q, c


def scaled_scores(g, s, planted):
    """[B, P] scores per planted row: s_k (or 0.9*s_0 for the duplicate), weights in C."""
    return g.op("Gather", [s, g.i64([p.obj for p in planted])], axis=1)


def ultralytics_metadata(names, size):
    return {
        "description": "tiledet synthetic test model (planted outputs)",
        "author": "tiledet", "task": "detect", "batch": "1", "stride": "32",
        "imgsz": f"[{size}, {size}]",
        "names": "{" + ", ".join(f"{i}: {n!r}" for i, n in enumerate(names)) + "}",
    }


# --------------------------------------------------------------------------------------
# Families. Each builder returns (Graph, manifest entry without inputs/outputs/file).
# --------------------------------------------------------------------------------------

def entry_base(name, family, variant, batch, size, n_classes, n_slots, slot_kind, fmt,
               score_kind, planted):
    return {
        "name": name, "family": family, "variant": variant, "batch": batch,
        "input_size": [size, size], "num_class_slots": n_classes, "num_slots": n_slots,
        "slot_kind": slot_kind, "outputs_have_batch_axis": True, "box_native_format": fmt,
        "score_kind": score_kind,
        "background": {"logit": BACKGROUND_LOGIT} if score_kind == "logit" else {"score": 0.0},
        "baked_batch_patterns": [], "baked_batch_notes": [],
        "batch2_if_dims_renamed": "ok", "gflops": None, "score_tolerance": 1e-5,
        "metadata_props": {}, "notes": [], "_planted": planted,
    }


def bake(entry, op_type, note):
    if op_type not in entry["baked_batch_patterns"]:
        entry["baked_batch_patterns"].append(op_type)
    entry["baked_batch_notes"].append(f"{op_type}: {note}")


def build_yolo(name, variant, nc=80, size=640, heavy_gflops=None, pixels="rgb"):
    """pixels: rgb (float [B,3,H,W]), grey (float [B,1,H,W]: a thermal / X-ray model) or
    u8_nhwc (uint8 [B,H,W,3], cast and /255 inside the graph as YOLO-NAS-style exports do)."""
    static = variant == "static"
    classes, names = (CLASSES_COCO80, COCO80) if nc == 80 else (CLASSES_FRUITS, FRUITS3)
    n = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2  # 8400 at 640, 2100 at 320
    idx = [i * n // 8400 for i in ANCHOR_INDICES_8400]
    planted = scene(size, classes, idx, DUPLICATE_ANCHOR_8400 * n // 8400)
    if pixels == "grey":
        for p in planted:
            p.region["channel"] = 0
    b = 1 if static else BATCH
    e = entry_base(name, "yolo", "heavy" if heavy_gflops else variant, 1 if static else "dynamic",
                   size, nc, n, "anchor", "cxcywh_px", "prob", planted)
    g = Graph(name)
    if pixels == "u8_nhwc":
        e["input_pixels"] = pixels
        raw = g.input("images", TensorProto.UINT8, [b, size, size, 3])
        x = g.op("Transpose", [g.op("Mul", [g.op("Cast", [raw], to=TensorProto.FLOAT), g.f32(1 / 255)])],
                 perm=[0, 3, 1, 2])
    elif pixels == "grey":
        e["input_pixels"] = pixels
        x = g.input("images", TensorProto.FLOAT, [b, 1, size, size])
    else:
        x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, n, nc)
    boxes = box_table(n, planted, "cxcywh_px", size).T[None]  # [1, 4, N]
    # The two static yolo models bake batch 1 differently, so a repair tool meets both.
    slice_item0, reshape_b1 = static and nc != 80, static and nc == 80
    if slice_item0:
        # Slicing item 0 is what a per-image export leaves behind: at batch 2 the
        # second image silently disappears instead of failing.
        x = g.op("Slice", [x, g.i64([0]), g.i64([1]), g.i64([0])])
        bake(e, "Slice", "images[0:1] on axis 0 before everything else (drops items 1..)")
        e["batch2_if_dims_renamed"] = "wrong_result"
    s = region_scores(g, x, planted[:K])
    if heavy_gflops:
        pert, e["gflops"] = heavy_perturbation(g, x, heavy_gflops, size)
        s = g.op("Add", [s, pert])
    if reshape_b1:
        s = g.op("Reshape", [s, g.i64([1, K])])
        bake(e, "Reshape", "region scores reshaped to constant [1, 3]")
        e["batch2_if_dims_renamed"] = "error"
    t = g.op("Mul", [g.op("Unsqueeze", [scaled_scores(g, s, planted), g.i64([2])]),
                     g.f32(c[None])])                                   # [B, P, nc]
    scores = g.op("MatMul", [g.op("Transpose", [t], perm=[0, 2, 1]), g.f32(q.T)])  # [B,nc,N]
    if static:
        box_t = g.f32(boxes, "anchor_boxes")
        bake(e, "Concat", "batch-1 constant box rows [1, 4, N] concatenated with scores")
    else:
        box_t = g.op("Expand", [g.f32(boxes, "anchor_boxes"), with_batch(g, x, [4, n])])
    out = g.op("Concat", [box_t, scores], axis=1, out=None if reshape_b1 else "output0")
    if reshape_b1:
        g.op("Reshape", [out, g.i64([1, 4 + nc, n])], out="output0")
        bake(e, "Reshape", f"final output reshaped to constant [1, {4 + nc}, {n}]")
    g.output("output0", TensorProto.FLOAT, [b, 4 + nc, n])
    e["metadata_props"] = ultralytics_metadata(names, size)
    return g, e


def build_yolo_e2e(name, variant, size=640):
    static = variant == "static"
    nq, nc = 300, 80
    planted = scene(size, CLASSES_COCO80, QUERY_INDICES)
    b = 1 if static else BATCH
    e = entry_base(name, "yolo_e2e", variant, 1 if static else "dynamic", size, nc, nq,
                   "query", "xyxy_px", "prob", planted)
    e["notes"].append("output0 rows: x1,y1,x2,y2,score,class(float); rows are not sorted")
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, _ = slot_weights(planted, nq, nc)
    boxes = g.f32(box_table(nq, planted, "xyxy_px", size)[None], "boxes")       # [1,300,4]
    cls = np.array([(i * 7) % nc for i in range(nq)], np.float32)
    for p in planted:
        cls[p.index] = p.class_id
    if static:
        # The NMS export unrolls `for i in range(bs)` (ultralytics#21188): one Gather per
        # traced image, so at batch 2 only image 0 is processed.
        xi = g.op("Gather", [x, g.i64(0)], axis=0)
        bake(e, "Gather", "images gathered at index 0 on axis 0 (unrolled per-image loop)")
        s = g.op("Unsqueeze", [region_scores_single(g, xi, planted), g.i64([0])])  # [1, K]
        score = g.op("Unsqueeze", [g.op("MatMul", [s, g.f32(q.T)]), g.i64([2])])
        zeros = g.op("ConstantOfShape", [g.i64([1, nq, 1])],
                     value=helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0]))
        bake(e, "ConstantOfShape", "class column built from ConstantOfShape([1, 300, 1])")
        cls_t = g.op("Add", [zeros, g.f32(cls[:, None], "classes")])
        bake(e, "Concat", "batch-1 constant boxes [1, 300, 4] concatenated with scores")
        e["batch2_if_dims_renamed"] = "wrong_result"
    else:
        s = region_scores(g, x, planted)
        score = g.op("Unsqueeze", [g.op("MatMul", [s, g.f32(q.T)]), g.i64([2])])
        boxes = g.op("Expand", [boxes, with_batch(g, x, [nq, 4])])
        cls_t = g.op("Expand", [g.f32(cls[None, :, None], "classes"), with_batch(g, x, [nq, 1])])
    g.op("Concat", [boxes, score, cls_t], axis=2, out="output0")
    g.output("output0", TensorProto.FLOAT, [b, nq, 6])
    e["metadata_props"] = ultralytics_metadata(COCO80, size)
    return g, e


def build_ultralytics_rtdetr(name, variant, size=640, nc=80, metadata=True):
    static = variant == "static"
    nq = 300
    planted = scene(size, CLASSES_COCO80, QUERY_INDICES)
    b = 1 if static else BATCH
    e = entry_base(name, "ultralytics_rtdetr", variant, 1 if static else "dynamic", size, nc,
                   nq, "query", "cxcywh_norm", "prob", planted)
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, nq, nc)
    s = region_scores(g, x, planted)
    t = g.op("Mul", [g.op("Unsqueeze", [s, g.i64([2])]), g.f32(c[None])])      # [B, K, nc]
    scores = g.op("MatMul", [g.f32(q), t])                                      # [B, 300, nc]
    qbox = g.f32(box_table(nq, planted, "cxcywh_norm", size)[None], "query_boxes")
    if static:
        # query_feat.unsqueeze(0).repeat(bs, 1, 1) traced at bs=1.
        boxes = g.op("Tile", [qbox, g.i64([1, 1, 1])])
        bake(e, "Tile", "query boxes [1, 300, 4] tiled with constant repeats [1, 1, 1]")
        scores = g.op("Reshape", [scores, g.i64([1, nq, nc])])
        bake(e, "Reshape", f"class scores reshaped to constant [1, 300, {nc}]")
        e["batch2_if_dims_renamed"] = "error"
    else:
        boxes = g.op("Tile", [qbox, with_batch(g, x, [1, 1])])
    g.op("Concat", [boxes, scores], axis=2, out="output0")
    g.output("output0", TensorProto.FLOAT, [b, nq, 4 + nc])
    e["metadata_props"] = ultralytics_metadata(COCO80, size) if metadata else {}
    return g, e


def logit_base(planted, nq, n_classes, class_offset=0):
    """Background logits, 0 where a planted logit is added so that the logit is exactly s_k."""
    base = np.full((nq, n_classes), BACKGROUND_LOGIT, np.float32)
    for p in planted:
        base[p.index, p.class_id - class_offset] = 0.0
    return base


def build_hf_rtdetr(name, variant, size=640):
    static = variant == "static"
    nq, nc = 300, 80
    planted = scene(size, CLASSES_COCO80, QUERY_INDICES)
    b = 1 if static else BATCH
    e = entry_base(name, "hf_rtdetr", variant, 1 if static else "dynamic", size, nc, nq,
                   "query", "cxcywh_norm", "logit", planted)
    g = Graph(name)
    x = g.input("pixel_values", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, nq, nc)
    s = region_scores(g, x, planted)
    qbox = g.f32(box_table(nq, planted, "cxcywh_norm", size)[None], "query_boxes")
    if static:
        s = g.op("Split", [s, g.i64([1])], axis=0)
        bake(e, "Split", "region scores split on axis 0 with split=[1]")
        g.op("Expand", [qbox, g.i64([1, nq, 4])], out="pred_boxes")
        bake(e, "Expand", "query boxes expanded to constant shape [1, 300, 4]")
        e["batch2_if_dims_renamed"] = "error"
    else:
        g.op("Expand", [qbox, with_batch(g, x, [nq, 4])], out="pred_boxes")
    t = g.op("Mul", [g.op("Unsqueeze", [s, g.i64([2])]), g.f32(c[None])])
    planted_logits = g.op("MatMul", [g.f32(q), t])
    g.op("Add", [planted_logits, g.f32(logit_base(planted, nq, nc)[None], "logit_base")],
         out="logits")
    g.output("logits", TensorProto.FLOAT, [b, nq, nc])
    g.output("pred_boxes", TensorProto.FLOAT, [b, nq, 4])
    return g, e


def build_official_rtdetr(name, variant, size=640, heavy_gflops=None, batch_kind=None):
    """variant: dynamic | static | nobatch | fake_dynamic | div80 (batch_kind for heavy)."""
    kind = batch_kind or variant
    static = kind in ("static", "nobatch")
    nq, nc = 300, 80
    planted = scene(size, CLASSES_COCO80, QUERY_INDICES)
    b = 1 if static else BATCH
    e = entry_base(name, "official_rtdetr",
                   "heavy" if heavy_gflops else ("static" if kind == "nobatch" else kind),
                   1 if static else "dynamic", size, nc, nq, "query",
                   "xyxy_norm_times_orig_target_sizes", "prob", planted)
    e["background"]["label"] = 0
    e["notes"].append("boxes = box_native * [w, h, w, h] from orig_target_sizes (w, h)")
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    sizes = g.input("orig_target_sizes", TensorProto.INT64, [b, 2])
    q, _ = slot_weights(planted, nq, nc)
    labels = np.zeros((1, nq), np.int64)
    for p in planted:
        labels[0, p.index] = p.class_id
    qbox = box_table(nq, planted, "xyxy_norm_times_orig_target_sizes", size)[None]
    s = region_scores(g, x, planted)
    if heavy_gflops:
        pert, e["gflops"] = heavy_perturbation(g, x, heavy_gflops, size)
        s = g.op("Add", [s, pert])
    scores = g.op("MatMul", [s, g.f32(q.T)])                                    # [B, 300]

    if kind == "nobatch":
        wh = g.op("Gather", [sizes, g.i64(0)], axis=0)                          # [2]
        bake(e, "Gather", "orig_target_sizes gathered at index 0 on axis 0")
        whwh = g.op("Concat", [g.op("Cast", [wh], to=TensorProto.FLOAT)] * 2, axis=0)
        g.op("Mul", [g.f32(qbox[0], "query_boxes"), whwh], out="boxes")
        g.op("Squeeze", [scores, g.i64([0])], out="scores")
        g.op("Squeeze", [g.op("Tile", [g.i64(labels, "labels"), g.i64([1, 1])]), g.i64([0])],
             out="labels")
        bake(e, "Squeeze", "scores and labels squeezed on axis 0: outputs have no batch axis")
        e["outputs_have_batch_axis"] = False
        e["batch2_if_dims_renamed"] = "error"
        g.output("labels", TensorProto.INT64, [nq])
        g.output("boxes", TensorProto.FLOAT, [nq, 4])
        g.output("scores", TensorProto.FLOAT, [nq])
        return g, e

    if static:
        wh = g.op("Squeeze", [sizes, g.i64([0])])                               # [2]
        bake(e, "Squeeze", "orig_target_sizes squeezed on axis 0")
        whwh = g.op("Concat", [g.op("Cast", [wh], to=TensorProto.FLOAT)] * 2, axis=0)
        whwh = g.op("Reshape", [whwh, g.i64([1, 1, 4])])
        boxes = g.op("Mul", [g.f32(qbox, "query_boxes"), whwh])
        g.op("Reshape", [boxes, g.i64([1, nq, 4])], out="boxes")
        g.op("Reshape", [scores, g.i64([1, nq])], out="scores")
        bake(e, "Reshape", "[w,h,w,h] reshaped to [1,1,4]; boxes/scores to [1,300,...]")
        g.op("Tile", [g.i64(labels, "labels"), g.i64([1, 1])], out="labels")
        bake(e, "Tile", "labels [1, 300] tiled with constant repeats [1, 1]")
        e["batch2_if_dims_renamed"] = "error"
    else:
        f = g.op("Cast", [sizes], to=TensorProto.FLOAT)                         # [B, 2]
        whwh = g.op("Unsqueeze", [g.op("Concat", [f, f], axis=1), g.i64([1])])  # [B, 1, 4]
        boxes = g.op("Mul", [g.f32(qbox, "query_boxes"), whwh])                 # [B, 300, 4]
        if kind == "fake_dynamic":
            g.op("Reshape", [boxes, g.i64([1, nq, 4])], out="boxes")
            bake(e, "Reshape", "boxes reshaped to constant [1, 300, 4] despite dynamic I/O")
            e["batch2_if_dims_renamed"] = "error"
            e["notes"].append("declares a dynamic batch but runs only at batch 1")
        else:
            g.op("Identity", [boxes], out="boxes")
        if kind == "div80":
            # A constant [1, 80, 128] reshaped to [B, -1, 4, 32] (as exports that fold a
            # per-item view into a constant do): runs only when B divides 80, so batches of
            # 1, 2, 4, 5, 8 work and 3, 6, 7 fail. Its mean (zero) is added to the scores, so the
            # outputs stay image-dependent and equal to the plain dynamic model's.
            view = g.op("Reshape", [g.f32(np.zeros((1, 80, 128), np.float32), "div80_const"),
                                    with_batch(g, x, [-1, 4, 32])])
            zero = g.op("Unsqueeze", [g.op("ReduceMean", [view], axes=[1, 2, 3], keepdims=0),
                                      g.i64([1])])                              # [B, 1]
            scores = g.op("Add", [scores, zero])
            e["notes"].append("declares a dynamic batch but runs only at batch sizes that divide 80 "
                              "(1, 2, 4, 5, 8; fails at 3, 6, 7)")
        g.op("Identity", [scores], out="scores")
        g.op("Expand", [g.i64(labels, "labels"), with_batch(g, x, [nq])], out="labels")
    g.output("labels", TensorProto.INT64, [b, nq])
    g.output("boxes", TensorProto.FLOAT, [b, nq, 4])
    g.output("scores", TensorProto.FLOAT, [b, nq])
    return g, e


def build_rfdetr(name, variant, size=576):
    static = variant == "static"
    nq, nslots = 300, 91
    planted = scene(size, CLASSES_COCO91, QUERY_INDICES)
    b = 1 if static else BATCH
    e = entry_base(name, "rfdetr", variant, 1 if static else "dynamic", size, nslots, nq,
                   "query", "cxcywh_norm", "logit", planted)
    e["notes"].append("input is ImageNet-normalized, so s_k may be any real number; "
                      "logit slot = COCO category id (slot 0 unused)")
    g = Graph(name)
    x = g.input("input", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, nq, nslots - 1, class_offset=1)  # columns = slots 1..90
    s = region_scores(g, x, planted)
    t = g.op("Mul", [g.op("Unsqueeze", [s, g.i64([2])]), g.f32(c[None])])
    cls = g.op("Add", [g.op("MatMul", [g.f32(q), t]),
                       g.f32(logit_base(planted, nq, nslots - 1, 1)[None], "logit_base")])
    qbox = g.f32(box_table(nq, planted, "cxcywh_norm", size)[None], "query_boxes")
    value = helper.make_tensor("value", TensorProto.FLOAT, [1], [BACKGROUND_LOGIT])
    if static:
        # rf-detr#949: torch.full((N_, ...)) and query_feat.repeat(bs, 1, 1) baked at bs=1.
        slot0 = g.op("ConstantOfShape", [g.i64([1, nq, 1])], value=value)
        bake(e, "ConstantOfShape", "slot-0 logits from ConstantOfShape([1, 300, 1])")
        bake(e, "Concat", "the [1, 300, 1] slot-0 column concatenated with class logits")
        g.op("Tile", [qbox, g.i64([1, 1, 1])], out="dets")
        bake(e, "Tile", "query boxes [1, 300, 4] tiled with constant repeats [1, 1, 1]")
        e["batch2_if_dims_renamed"] = "error"
    else:
        slot0 = g.op("ConstantOfShape", [with_batch(g, x, [nq, 1])], value=value)
        g.op("Tile", [qbox, with_batch(g, x, [1, 1])], out="dets")
    g.op("Concat", [slot0, cls], axis=2, out="labels")
    g.output("dets", TensorProto.FLOAT, [b, nq, 4])
    g.output("labels", TensorProto.FLOAT, [b, nq, nslots])
    return g, e


def special_entry(name, notes):
    return {"name": name, "family": "special", "variant": "special", "batch": 1,
            "baked_batch_patterns": [], "baked_batch_notes": [], "notes": notes,
            "gflops": None, "metadata_props": {}, "_planted": [], "planted": []}


def build_unrepairable(name):
    """Batch becomes the contraction dim of a MatMul whose constant weight has leading dim 1."""
    g = Graph(name)
    w = np.array([[0.5, -1.0, 2.0]], np.float32)
    e = special_entry(name, [
        "output0[0, j] = mean(images) * W[j] with W = " + json.dumps(w[0].tolist()),
        "the batch axis is contracted by MatMul([12288, B], W[1, 3]): no rewrite of shapes "
        "can make this batch-generic; batchify must refuse it"])
    e.update(input_size=[64, 64], batch2_if_dims_renamed="error")
    x = g.input("images", TensorProto.FLOAT, [1, 3, 64, 64])
    flat = g.op("Transpose", [g.op("Flatten", [x], axis=1)], perm=[1, 0])      # [12288, B]
    y = g.op("MatMul", [flat, g.f32(w, "W")])                                  # [12288, 3]
    g.op("ReduceMean", [y], out="output0", axes=[0], keepdims=1)               # [1, 3]
    g.output("output0", TensorProto.FLOAT, [1, K])
    bake(e, "MatMul", "batch axis contracted against constant W [1, 3]")
    e["_weights"] = w
    return g, e


def build_no_batch_axis(name):
    g = Graph(name)
    e = special_entry(name, ["y[c] = mean(x[c]); there is no batch axis at all"])
    e.update(input_size=[64, 64], batch2_if_dims_renamed="n/a")
    x = g.input("x", TensorProto.FLOAT, [3, 64, 64])
    g.op("ReduceMean", [x], out="y", axes=[1, 2], keepdims=0)
    g.output("y", TensorProto.FLOAT, [3])
    return g, e



# --------------------------------------------------------------------------------------
# Layouts with an objectness column, [B, N, 5+nc] (model-formats-more.md a, b, c).
# Same rank and shape as Ultralytics RT-DETR's [B, Q, 4+nc]: only N against the grid
# tells them apart, which is what these models are for.
# --------------------------------------------------------------------------------------

OBJ_CLS = 0.9  # class probability of every planted row: score = obj x cls, so a decoder
               # that skips either factor reports the wrong score


def grid_cells(size, strides=(8, 16, 32)):
    """Anchor-free rows of a square input: sum over strides of (H//s)(W//s)."""
    return sum((size // s) ** 2 for s in strides)


def yolox_raw_table(cxcywh_px, size):
    """Inverse of YOLOX demo_postprocess (model-formats-more.md c(4)): the raw regressions
    whose decode xy = (raw + grid) * s, wh = exp(raw) * s gives each row's box."""
    rows = []
    for s in (8, 16, 32):
        n = size // s
        gy, gx = np.divmod(np.arange(n * n), n)
        rows.append(np.stack([gx, gy, np.full(n * n, s)], axis=1))
    grid = np.concatenate(rows).astype(np.float64)
    t = np.asarray(cxcywh_px, np.float64)
    raw = np.stack([t[:, 0] / grid[:, 2] - grid[:, 0], t[:, 1] / grid[:, 2] - grid[:, 1],
                    np.log(t[:, 2] / grid[:, 2]), np.log(t[:, 3] / grid[:, 2])], axis=1)
    return raw.astype(np.float32)


def yolox_raw_row(cxcywh_px, index, size):
    """Raw regressions of one row (its grid cell and stride follow from the row index)."""
    table = np.zeros((grid_cells(size), 4), np.float64) + [1, 1, 1, 1]
    table[index] = cxcywh_px
    return yolox_raw_table(table, size)[index]


def build_objectness(name, variant, kind):
    """yolov5: output0 [B, 3*cells, 85] at 320, boxes decoded (cxcywh input px), v5 metadata
    (stride, names); yolox: output [B, cells, 85] at 416 (3549 rows, the YOLOX-nano shape),
    raw box regressions, BGR 0..255 input, no metadata."""
    static = variant == "static"
    nc = 80
    if kind == "yolov5":
        size, out_name, n = 320, "output0", 3 * grid_cells(320)        # 6300
        idx = [i * n // 8400 for i in ANCHOR_INDICES_8400]
        planted = scene(size, CLASSES_COCO80, idx, DUPLICATE_ANCHOR_8400 * n // 8400)
        fmt = "cxcywh_px"
    else:
        size, out_name, n = 416, "output", grid_cells(416)             # 3549
        planted = scene(size, CLASSES_COCO80, [17, 3000, n - 1])      # one row per stride
        fmt = "yolox_raw"
    for p in planted:
        p.scale *= OBJ_CLS
    b = 1 if static else BATCH
    e = entry_base(name, kind, variant, 1 if static else "dynamic", size, nc, n, "anchor", fmt,
                   "prob", planted)
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, n, nc)
    s = region_scores(g, x, planted[:K])                                        # [B, K]
    if kind == "yolox":
        # YOLOX feeds BGR bytes 0..255 (c(3)): channel 0 is blue; obj = region mean / 255.
        s = g.op("Mul", [s, g.f32(1 / 255)])
        e["channel_order"] = "BGR"
        e["pixel_scale"] = 255
        e["notes"].append("input is BGR 0..255; score_region.channel is in BGR order; "
                          "planted score = score_scale * mean(region) / 255")
        e["notes"].append("box_native = raw YOLOX regressions (dx, dy, log w/s, log h/s)")
    obj = g.op("MatMul", [g.op("Gather", [s, g.i64([p.obj for p in planted])], axis=1),
                          g.f32(q.T)])                                          # [B, N]
    obj = g.op("Unsqueeze", [obj, g.i64([2])])
    cls = g.op("MatMul", [g.f32(q, "rows"), g.f32(c, "classes")])               # [N, nc]
    table = box_table(n, planted, "cxcywh_px", size)
    if kind == "yolox":
        table = yolox_raw_table(table, size)
    boxes = g.f32(table[None], "anchor_boxes")                                  # [1, N, 4]
    if static:
        cls = g.op("Unsqueeze", [cls, g.i64([0])])
        bake(e, "Concat", f"batch-1 constant box and class rows [1, {n}, .] concatenated")
        out = g.op("Concat", [boxes, obj, cls], axis=2)
        g.op("Reshape", [out, g.i64([1, n, 5 + nc])], out=out_name)
        bake(e, "Reshape", f"final output reshaped to constant [1, {n}, {5 + nc}]")
        e["batch2_if_dims_renamed"] = "error"
    else:
        boxes = g.op("Expand", [boxes, with_batch(g, x, [n, 4])])
        cls = g.op("Expand", [g.op("Unsqueeze", [cls, g.i64([0])]), with_batch(g, x, [n, nc])])
        g.op("Concat", [boxes, obj, cls], axis=2, out=out_name)
    g.output(out_name, TensorProto.FLOAT, [b, n, 5 + nc])
    if kind == "yolov5":
        # YOLOv5 export_onnx writes only these two keys (a(1)).
        e["metadata_props"] = {"stride": "32",
                               "names": "{" + ", ".join(f"{i}: {m!r}" for i, m in enumerate(COCO80)) + "}"}
    return g, e



def build_yolov7_end2end(name):
    """YOLOv7 --grid --end2end --max-wh (ONNX_ORT, model-formats-more.md b(1)): static batch 1,
    one output `output` [num_dets, 7] = batch_id, x0, y0, x1, y1, class_id, score (input px,
    after NMS). The three planted rows come with two low-score rows (0.1 x s) that NMS's
    score_threshold could have passed and the default conf 0.25 must drop."""
    size, nc = 320, 80
    planted = scene(size, CLASSES_COCO80, [0, 2, 4])
    e = entry_base(name, "yolov7_end2end", "static", 1, size, nc, 5, "query", "xyxy_px", "prob",
                   planted)
    e["outputs_have_batch_axis"] = False
    e["batch2_if_dims_renamed"] = "error"  # Squeeze of the batch axis
    e["notes"].append("rows 1 and 3 are decoys scored 0.1 * s_k; column 0 is the batch id (0)")
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [1, 3, size, size])
    s = g.op("Squeeze", [region_scores(g, x, planted), g.i64([0])])            # [K]
    bake(e, "Squeeze", "scores squeezed on axis 0 (batch 1 only), as the traced export does")
    # row r takes weight w[r, k] of s_k: planted rows 1.0, decoys 0.1
    w = np.zeros((5, K), np.float32)
    for p in planted:
        w[p.index, p.obj] = 1.0
    w[1, 0], w[3, 1] = 0.1, 0.1
    score = g.op("Unsqueeze", [g.op("MatMul", [g.f32(w), s]), g.i64([1])])    # [5, 1]
    table = box_table(5, planted, "xyxy_px", size)
    cls = np.array([[(7 * r) % nc] for r in range(5)], np.float32)
    for p in planted:
        cls[p.index, 0] = p.class_id
    fixed = np.concatenate([np.zeros((5, 1), np.float32), table, cls], axis=1)  # [5, 6]
    g.op("Concat", [g.f32(fixed, "rows"), score], axis=1, out="output")
    g.output("output", TensorProto.FLOAT, ["num_dets", 7])
    return g, e


# --------------------------------------------------------------------------------------
# Detectors with NMS in the graph (issue 15): counted rows, YOLO-NAS, PP-YOLOE.
# --------------------------------------------------------------------------------------

def counted_scores(g, s, planted, rows, decoy_row, stale_row):
    """[B, rows] scores: planted rows s_k, the decoy 0.1 * s_0 (under the default conf), the
    stale row 0.95 (beyond the count: a decoder that ignores the count reports it), other
    padding rows -1 as the exporters write."""
    w = np.zeros((K, rows), np.float32)
    bias = np.full(rows, -1.0, np.float32)
    for p in planted:
        w[p.obj, p.index] = 1.0
        bias[p.index] = 0.0
    w[0, decoy_row] = 0.1
    bias[decoy_row] = 0.0
    bias[stale_row] = 0.95
    return g.op("Add", [g.op("MatMul", [s, g.f32(w)]), g.f32(bias)])


def counted_constants(planted, rows, size, nc, decoy_row, stale_row):
    boxes = box_table(rows, planted, "xyxy_px", size)
    classes = np.array([(7 * r) % nc for r in range(rows)], np.int64)
    for p in planted:
        classes[p.index] = p.class_id
    classes[decoy_row] = planted[0].class_id
    for r in range(rows):
        if r not in [p.index for p in planted] and r not in (decoy_row, stale_row):
            classes[r] = -1
            boxes[r] = -1
    return boxes, classes


def build_counted(name, variant, kind):
    """kind trt: YOLOv7/YOLOv6 --end2end TensorRT-style outputs (model-formats-more.md b(1)):
    float `images` [B,3,320,320] -> num_dets [B,1] int32, det_boxes [B,6,4] x1y1x2y2 input px,
    det_scores [B,6], det_classes [B,6] int32. kind nas: YOLO-NAS BATCH format (e(4)): uint8
    `input` [B,3,640,640] (cast and / 255 in the graph) -> num_predictions [B,1] int64,
    pred_boxes, pred_scores, pred_classes int64. Rows 0-2 planted, 3 a decoy at 0.1 s_0, 4 a
    stale row scored 0.95 beyond the count of 4, 5 padding (-1)."""
    static = variant == "static"
    trt = kind == "trt"
    size, nc, rows, decoy, stale = (320 if trt else 640), 80, 6, 3, 4
    planted = scene(size, CLASSES_COCO80, [0, 1, 2])
    b = 1 if static else BATCH
    e = entry_base(name, "trt_end2end" if trt else "yolo_nas", variant, 1 if static else "dynamic", size, nc,
                   rows, "query", "xyxy_px", "prob", planted)
    e["notes"].append("row 3 is a decoy scored 0.1 * s_0; row 4 is scored 0.95 but lies beyond the count (4)")
    g = Graph(name)
    if trt:
        x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    else:
        e["input_pixels"] = "u8_nchw"
        raw = g.input("input", TensorProto.UINT8, [b, 3, size, size])
        x = g.op("Mul", [g.op("Cast", [raw], to=TensorProto.FLOAT), g.f32(1 / 255)])
    s = region_scores(g, x, planted)                                               # [B, K]
    boxes, classes = counted_constants(planted, rows, size, nc, decoy, stale)
    int_type, np_int = (TensorProto.INT32, np.int32) if trt else (TensorProto.INT64, np.int64)
    names = (["num_dets", "det_boxes", "det_scores", "det_classes"] if trt else
             ["num_predictions", "pred_boxes", "pred_scores", "pred_classes"])
    g.op("Expand", [g.const(np.array([[4]], np_int), np_int), with_batch(g, x, [1])], out=names[0])
    g.op("Expand", [g.f32(boxes[None]), with_batch(g, x, [rows, 4])], out=names[1])
    g.op("Identity", [counted_scores(g, s, planted, rows, decoy, stale)], out=names[2])
    g.op("Expand", [g.const(classes[None].astype(np_int), np_int), with_batch(g, x, [rows])], out=names[3])
    g.output(names[0], int_type, [b, 1])
    g.output(names[1], TensorProto.FLOAT, [b, rows, 4])
    g.output(names[2], TensorProto.FLOAT, [b, rows])
    g.output(names[3], int_type, [b, rows])
    return g, e


def build_yolo_nas_flat(name):
    """YOLO-NAS FLAT format (e(4)): uint8 `input` [1,3,640,640] -> flat_predictions [N,7] =
    image_index, x1, y1, x2, y2, score, class (score before class, unlike YOLOv7's [K,7])."""
    size, nc, rows = 640, 80, 4
    planted = scene(size, CLASSES_COCO80, [0, 1, 2])
    e = entry_base(name, "yolo_nas_flat", "static", 1, size, nc, rows, "query", "xyxy_px", "prob", planted)
    e["input_pixels"] = "u8_nchw"
    e["outputs_have_batch_axis"] = False
    e["batch2_if_dims_renamed"] = "error"
    e["notes"].append("row 3 is a decoy scored 0.1 * s_0")
    g = Graph(name)
    raw = g.input("input", TensorProto.UINT8, [1, 3, size, size])
    x = g.op("Mul", [g.op("Cast", [raw], to=TensorProto.FLOAT), g.f32(1 / 255)])
    s = g.op("Squeeze", [region_scores(g, x, planted), g.i64([0])])                # [K]
    bake(e, "Squeeze", "scores squeezed on axis 0 (batch 1 only)")
    w = np.zeros((rows, K), np.float32)
    for p in planted:
        w[p.index, p.obj] = 1.0
    w[3, 0] = 0.1
    score = g.op("Unsqueeze", [g.op("MatMul", [g.f32(w), s]), g.i64([1])])       # [rows, 1]
    boxes = box_table(rows, planted, "xyxy_px", size)
    cls = np.array([[p.class_id] for p in planted] + [[planted[0].class_id]], np.float32)
    left = np.concatenate([np.zeros((rows, 1), np.float32), boxes], axis=1)       # [rows, 5]
    g.op("Concat", [g.f32(left, "rows"), score, g.f32(cls, "classes")], axis=1, out="flat_predictions")
    g.output("flat_predictions", TensorProto.FLOAT, ["N", 7])
    return g, e


def build_ppyoloe(name, variant):
    """PaddleDetection PP-YOLOE+ via paddle2onnx (model-formats-more.md f): `image` [B,3,640,640]
    + `scale_factor` [B,2] = (scale_y, scale_x). variant nms (static batch 1): outputs
    multiclass_nms3_0.tmp_0 [M,6] = class, score, x1, y1, x2, y2 in ORIGINAL px (input px
    divided by the scale factor, x by scale_x) and multiclass_nms3_0.tmp_2 [1] int32 = M; row 3
    is a decoy (0.1 s_0), row 4 an empty row of class -1 scored 0.9. variant dynamic|static
    (exclude_nms=True): boxes [B,N,4] original px and sigmoid-like scores [B,80,N], N = 100,
    with a near-duplicate of object 0 that NMS (IoU 0.7) must remove."""
    size, nc = 640, 80
    g = Graph(name)
    if variant == "nms":
        rows = 5
        planted = scene(size, CLASSES_COCO80, [0, 1, 2])
        e = entry_base(name, "ppyoloe", "static", 1, size, nc, rows, "query", "xyxy_px", "prob", planted)
        e["outputs_have_batch_axis"] = False
        e["batch2_if_dims_renamed"] = "error"
        e["notes"].append("boxes are divided by scale_factor (y, x) in the graph; row 4 has class -1")
        x = g.input("image", TensorProto.FLOAT, [1, 3, size, size])
        sf = g.input("scale_factor", TensorProto.FLOAT, [1, 2])
        s = g.op("Squeeze", [region_scores(g, x, planted), g.i64([0])])            # [K]
        bake(e, "Squeeze", "scores squeezed on axis 0 (batch 1 only)")
        w = np.zeros((rows, K), np.float32)
        for p in planted:
            w[p.index, p.obj] = 1.0
        w[3, 0] = 0.1
        bias = np.zeros((rows,), np.float32)
        bias[4] = 0.9
        score = g.op("Unsqueeze", [g.op("Add", [g.op("MatMul", [g.f32(w), s]), g.f32(bias)]), g.i64([1])])
        divisor = g.op("Gather", [g.op("Squeeze", [sf, g.i64([0])]), g.i64([1, 0, 1, 0])], axis=0)  # [4]
        boxes = g.op("Div", [g.f32(box_table(rows, planted, "xyxy_px", size)), divisor])           # [rows, 4]
        cls = np.array([[p.class_id] for p in planted] + [[planted[0].class_id], [-1]], np.float32)
        g.op("Concat", [g.f32(cls, "classes"), score, boxes], axis=1, out="multiclass_nms3_0.tmp_0")
        g.op("Identity", [g.const(np.array([rows], np.int32), np.int32)], out="multiclass_nms3_0.tmp_2")
        g.output("multiclass_nms3_0.tmp_0", TensorProto.FLOAT, ["M", 6])
        g.output("multiclass_nms3_0.tmp_2", TensorProto.INT32, [1])
        return g, e
    static = variant == "static"
    n = 100
    planted = scene(size, CLASSES_COCO80, [5, 50, 99], 70)
    b = 1 if static else BATCH
    e = entry_base(name, "ppyoloe_nonms", variant, 1 if static else "dynamic", size, nc, n, "anchor",
                   "xyxy_px", "prob", planted)
    x = g.input("image", TensorProto.FLOAT, [b, 3, size, size])
    sf = g.input("scale_factor", TensorProto.FLOAT, [b, 2])
    q, c = slot_weights(planted, n, nc)
    t = g.op("Mul", [g.op("Unsqueeze", [scaled_scores(g, region_scores(g, x, planted[:K]), planted), g.i64([2])]),
                     g.f32(c[None])])                                               # [B, P, nc]
    g.op("MatMul", [g.op("Transpose", [t], perm=[0, 2, 1]), g.f32(q.T)], out="scores")  # [B, nc, N]
    divisor = g.op("Unsqueeze", [g.op("Gather", [sf, g.i64([1, 0, 1, 0])], axis=1), g.i64([1])])  # [B,1,4]
    g.op("Div", [g.f32(box_table(n, planted, "xyxy_px", size)[None]), divisor], out="boxes")    # [B, N, 4]
    g.output("boxes", TensorProto.FLOAT, [b, n, 4])
    g.output("scores", TensorProto.FLOAT, [b, nc, n])
    return g, e


def build_yolo_nas_raw(name, variant):
    """YOLO-NAS exported with postprocessing=False (model-formats-more.md e(4)): uint8 `input`
    [B,3,640,640] -> boxes [B,8400,4] x1y1x2y2 input px and scores [B,8400,80] (sigmoid), N the
    anchor-free grid at strides 8/16/32. SG sets no output names; torch numbers them, as here.
    Object 0 has a near-duplicate (0.9 s_0, IoU ~0.82) that NMS (IoU 0.7) must remove."""
    static = variant == "static"
    size, nc = 640, 80
    n = grid_cells(size)
    idx = [i * n // 8400 for i in ANCHOR_INDICES_8400]
    planted = scene(size, CLASSES_COCO80, idx, DUPLICATE_ANCHOR_8400 * n // 8400)
    b = 1 if static else BATCH
    e = entry_base(name, "yolo_nas_raw", variant, 1 if static else "dynamic", size, nc, n, "anchor", "xyxy_px",
                   "prob", planted)
    e["input_pixels"] = "u8_nchw"
    g = Graph(name)
    raw = g.input("input", TensorProto.UINT8, [b, 3, size, size])
    x = g.op("Mul", [g.op("Cast", [raw], to=TensorProto.FLOAT), g.f32(1 / 255)])
    q, c = slot_weights(planted, n, nc)
    t = g.op("Mul", [g.op("Unsqueeze", [scaled_scores(g, region_scores(g, x, planted[:K]), planted), g.i64([2])]),
                     g.f32(c[None])])                                               # [B, P, nc]
    g.op("MatMul", [g.f32(q), t], out="1394")                                     # [B, N, nc]
    g.op("Expand", [g.f32(box_table(n, planted, "xyxy_px", size)[None]), with_batch(g, x, [n, 4])], out="1393")
    g.output("1393", TensorProto.FLOAT, [b, n, 4])
    g.output("1394", TensorProto.FLOAT, [b, n, nc])
    return g, e


def model_specs(heavy_gflops):
    """(name, builder) for every model, in manifest order."""
    specs = []
    for v in ("dynamic", "static"):
        specs.append((f"yolo_{v}", lambda n, v=v: build_yolo(n, v)))
    for v in ("dynamic", "static"):
        specs.append((f"yolo_nc3_{v}", lambda n, v=v: build_yolo(n, v, nc=3, size=320)))
    # Pixel formats other than float RGB NCHW (issue 12): one channel, and uint8 NHWC.
    specs.append(("yolo_grey_dynamic", lambda n: build_yolo(n, "dynamic", pixels="grey")))
    specs.append(("yolo_u8_nhwc_dynamic", lambda n: build_yolo(n, "dynamic", pixels="u8_nhwc")))
    for fam, fn in (("yolo_e2e", build_yolo_e2e),
                    ("ultralytics_rtdetr", build_ultralytics_rtdetr),
                    ("hf_rtdetr", build_hf_rtdetr), ("official_rtdetr", build_official_rtdetr),
                    ("rfdetr", build_rfdetr)):
        for v in ("dynamic", "static"):
            specs.append((f"{fam}_{v}", lambda n, fn=fn, v=v: fn(n, v)))
    specs += [
        ("official_rtdetr_nobatch_static", lambda n: build_official_rtdetr(n, "nobatch")),
        ("official_rtdetr_fake_dynamic", lambda n: build_official_rtdetr(n, "fake_dynamic")),
        ("fake_dynamic_div80", lambda n: build_official_rtdetr(n, "div80")),
        ("rtdetr_heavy_static", lambda n: build_official_rtdetr(
            n, "heavy", heavy_gflops=heavy_gflops, batch_kind="static")),
        ("rtdetr_heavy_dynamic", lambda n: build_official_rtdetr(
            n, "heavy", heavy_gflops=heavy_gflops, batch_kind="dynamic")),
        ("yolo_heavy_dynamic", lambda n: build_yolo(n, "dynamic", heavy_gflops=heavy_gflops)),
        ("unrepairable_matmul_b1", build_unrepairable),
        ("no_batch_axis", build_no_batch_axis),
    ]
    # [B, 300, 85] on YOLOX-nano's 416 input with no metadata: only the row count (300 queries,
    # not the 3549-cell grid) says RT-DETR with 81 classes.
    for v in ("dynamic", "static"):
        specs.append((f"rtdetr_nc81_416_{v}", lambda n, v=v: build_ultralytics_rtdetr(
            n, v, size=416, nc=81, metadata=False)))
    specs.append(("yolov7_end2end_static", build_yolov7_end2end))
    for v in ("dynamic", "static"):
        specs.append((f"trt_end2end_{v}", lambda n, v=v: build_counted(n, v, "trt")))
        specs.append((f"yolo_nas_{v}", lambda n, v=v: build_counted(n, v, "nas")))
        specs.append((f"ppyoloe_nonms_{v}", lambda n, v=v: build_ppyoloe(n, v)))
    specs.append(("yolo_nas_flat_static", build_yolo_nas_flat))
    for v in ("dynamic", "static"):
        specs.append((f"yolo_nas_raw_{v}", lambda n, v=v: build_yolo_nas_raw(n, v)))
    specs.append(("ppyoloe_static", lambda n: build_ppyoloe(n, "nms")))
    for fam in ("yolov5", "yolox"):
        for v in ("dynamic", "static"):
            specs.append((f"{fam}_{v}", lambda n, fam=fam, v=v: build_objectness(n, v, fam)))
    return specs


# --------------------------------------------------------------------------------------
# Manifest and files
# --------------------------------------------------------------------------------------

def _np_dtype(elem):
    if hasattr(helper, "tensor_dtype_to_np_dtype"):  # onnx >= 1.13
        return helper.tensor_dtype_to_np_dtype(elem)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem]


def value_info_json(vi):
    dtype = _np_dtype(vi.type.tensor_type.elem_type)
    dims = [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
    return {"name": vi.name, "dtype": np.dtype(dtype).name, "shape": dims}


def f32_list(values):
    """Floats exactly as float32 stores them, so tests can compare with a tight tolerance."""
    return [float(np.float32(v)) for v in values]


def finish_entry(model, e):
    e["inputs"] = [value_info_json(v) for v in model.graph.input]
    e["outputs"] = [value_info_json(v) for v in model.graph.output]
    size = e.get("input_size", [0])[0]
    planted = e.pop("_planted")
    e.pop("_weights", None)
    if planted:
        e["planted"] = []
        for p in planted:
            e["planted"].append({
                "object": p.obj, "class_id": p.class_id, "index": p.index,
                "box_native": f32_list(
                    yolox_raw_row(to_format(p.box_norm, "cxcywh_px", size), p.index, size)
                    if e["box_native_format"] == "yolox_raw" else  # noqa: E131
                    to_format(p.box_norm, e["box_native_format"], size)),
                "box_xyxy_px": f32_list([v * size for v in p.box_norm]),
                "score_region": p.region, "score_kind": e["score_kind"],
                "score_scale": p.scale, "duplicate_of": p.duplicate_of,
                "iou_with_original": None if p.duplicate_of is None else
                round(iou(p.box_norm, planted[p.duplicate_of].box_norm), 4),
            })
        if e["gflops"] is not None:
            e["gflops"] = round(e["gflops"], 3)
            e["score_tolerance"] = 1e-5
            e["notes"].append(f"planted scores = s_k + {HEAVY_EPS} * tanh(mean(conv tower)), "
                              f"i.e. equal to s_k within {HEAVY_EPS}")
    doc_keys = ("name", "family", "variant", "baked_batch_patterns")
    model.doc_string = "tiledet synthetic test model: " + json.dumps({k: e[k] for k in doc_keys})
    return e


def write_atomic(path, data):
    """Skip identical content (keeps mtimes stable for build systems); else tmp + rename."""
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; these are plain data files
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def validate(model):
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(inferred)


def generate(out_dir, heavy_gflops):
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for name, build in model_specs(heavy_gflops):
        g, e = build(name)
        model = g.model(metadata=e["metadata_props"])
        e = finish_entry(model, e)
        validate(model)
        data = model.SerializeToString()
        e["file"] = name + ".onnx"
        e["sha256"] = hashlib.sha256(data).hexdigest()
        write_atomic(os.path.join(out_dir, e["file"]), data)
        entries.append(e)
    manifest = {"generator": "scripts/make_test_models.py", "format_version": 1,
                "opset": OPSET, "ir_version": IR_VERSION,
                "heavy_gflops_requested": heavy_gflops, "models": entries}
    text = json.dumps(manifest, indent=1) + "\n"
    write_atomic(os.path.join(out_dir, "manifest.json"), text.encode())
    return manifest


# --------------------------------------------------------------------------------------
# Self-check: a tiny numpy interpreter for exactly the ops used above
# --------------------------------------------------------------------------------------

class GraphError(RuntimeError):
    pass


def _conv(x, w, a):
    sh, sw = a.get("strides", [1, 1])
    p = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])))
    _, _, kh, kw = w.shape
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = 0
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            out = out + np.einsum("oc,bchw->bohw", w[:, :, i, j], patch, optimize=True)
    return out.astype(np.float32)


def _slice(v, a):
    data, starts, ends, axes = v[0], v[1], v[2], v[3]
    idx = [slice(None)] * data.ndim
    for s, e, ax in zip(starts, ends, axes):
        idx[ax] = slice(int(s), int(e))
    return data[tuple(idx)]


def _split(v, a):
    x, split = v[0], [int(s) for s in v[1]]
    axis = a.get("axis", 0)
    if sum(split) != x.shape[axis]:
        raise GraphError(f"Split sizes {split} do not sum to dim {x.shape[axis]}")
    return np.split(x, np.cumsum(split)[:-1], axis=axis)


def _reshape(v, a):
    shape = [v[0].shape[i] if d == 0 else int(d) for i, d in enumerate(v[1])]
    return v[0].reshape(shape)


def _unsqueeze(v, a):
    x = v[0]
    for ax in sorted(int(i) for i in v[1]):
        x = np.expand_dims(x, ax)
    return x


OPS = {
    "Slice": lambda v, a: [_slice(v, a)],
    "ReduceMean": lambda v, a: [np.mean(v[0], axis=tuple(a["axes"]),
                                        keepdims=bool(a.get("keepdims", 1))).astype(v[0].dtype)],
    "Unsqueeze": lambda v, a: [_unsqueeze(v, a)],
    "Squeeze": lambda v, a: [np.squeeze(v[0], axis=tuple(int(i) for i in v[1]))],
    "Concat": lambda v, a: [np.concatenate(v, axis=a["axis"])],
    "Gather": lambda v, a: [np.take(v[0], v[1], axis=a.get("axis", 0))],
    "Mul": lambda v, a: [v[0] * v[1]],
    "Add": lambda v, a: [v[0] + v[1]],
    "MatMul": lambda v, a: [np.matmul(v[0], v[1])],
    "Transpose": lambda v, a: [np.transpose(v[0], a["perm"])],
    "Reshape": lambda v, a: [_reshape(v, a)],
    "Expand": lambda v, a: [v[0] * np.ones([int(d) for d in v[1]], v[0].dtype)],
    "Tile": lambda v, a: [np.tile(v[0], [int(r) for r in v[1]])],
    "Shape": lambda v, a: [np.array(v[0].shape[a.get("start", 0):a.get("end")], np.int64)],
    "Cast": lambda v, a: [v[0].astype(_np_dtype(a["to"]))],
    "ConstantOfShape": lambda v, a: [np.full([int(d) for d in v[0]],
                                             numpy_helper.to_array(a["value"])[0])],
    "Identity": lambda v, a: [v[0]],
    "Split": lambda v, a: _split(v, a),
    "Flatten": lambda v, a: [v[0].reshape(int(np.prod(v[0].shape[:a.get("axis", 1)])), -1)],
    "Conv": lambda v, a: [_conv(v[0], v[1], a)],
    "Relu": lambda v, a: [np.maximum(v[0], 0)],
    "Tanh": lambda v, a: [np.tanh(v[0])],
    "Div": lambda v, a: [v[0] / v[1]],
}


def run_graph(model, feeds):
    """Evaluate ignoring declared shapes: this is what 'just rename the dims' would run."""
    vals = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    vals.update(feeds)
    for node in model.graph.node:
        ins = [vals[i] for i in node.input]
        attrs = {at.name: helper.get_attribute_value(at) for at in node.attribute}
        try:
            outs = OPS[node.op_type](ins, attrs)
        except (ValueError, IndexError, np.AxisError) as exc:
            raise GraphError(f"{node.name} ({node.op_type}): {exc}") from exc
        vals.update(zip(node.output, outs))
    return {o.name: vals[o.name] for o in model.graph.output}


def make_feeds(e, batch, rng):
    feeds = {}
    for spec in e["inputs"]:
        shape = [batch if d == BATCH else d for d in spec["shape"]]
        if spec["dtype"] == "int64":  # orig_target_sizes (w, h), distinct per item
            feeds[spec["name"]] = np.array([[810 + 100 * i, 1080 - 60 * i]
                                            for i in range(shape[0])], np.int64)
        elif spec["name"] == "scale_factor":  # (scale_y, scale_x), distinct per item
            feeds[spec["name"]] = np.array([[0.5 + 0.25 * i, 2.0 - 0.5 * i] for i in range(shape[0])], np.float32)
        elif spec["dtype"] == "uint8":  # raw bytes
            feeds[spec["name"]] = rng.integers(0, 256, shape, dtype=np.uint8)
        elif e["family"] == "rfdetr":  # ImageNet-normalized: negative values occur
            feeds[spec["name"]] = rng.normal(0, 1, shape).astype(np.float32)
        else:
            feeds[spec["name"]] = rng.random(shape, dtype=np.float32)
    return feeds


def read_rows(e, outs, b):
    """(boxes [S, 4], scores [S, C], labels [S] or None) for item b, in native format."""
    f = e["family"]
    if f == "yolo":
        o = outs["output0"][b]
        return o[:4].T, o[4:].T, None
    if f == "yolo_e2e":
        o = outs["output0"][b]
        return o[:, :4], o[:, 4:5], o[:, 5]
    if f == "yolov7_end2end":
        o = outs["output"]
        return o[:, 1:5], o[:, 6:7], o[:, 5]
    if f == "trt_end2end":
        return outs["det_boxes"][b], outs["det_scores"][b][:, None], outs["det_classes"][b]
    if f == "yolo_nas":
        return outs["pred_boxes"][b], outs["pred_scores"][b][:, None], outs["pred_classes"][b]
    if f == "yolo_nas_flat":
        o = outs["flat_predictions"]
        return o[:, 1:5], o[:, 5:6], o[:, 6]
    if f == "ppyoloe":
        o = outs["multiclass_nms3_0.tmp_0"]
        return o[:, 2:6], o[:, 1:2], o[:, 0]
    if f == "yolo_nas_raw":
        return outs["1393"][b], outs["1394"][b], None
    if f == "ppyoloe_nonms":
        return outs["boxes"][b], outs["scores"][b].T, None
    if f in ("yolov5", "yolox"):
        o = outs["output0" if f == "yolov5" else "output"][b]
        return o[:, :4], o[:, 4:5] * o[:, 5:], None
    if f == "ultralytics_rtdetr":
        o = outs["output0"][b]
        return o[:, :4], o[:, 4:], None
    if f == "hf_rtdetr":
        return outs["pred_boxes"][b], outs["logits"][b], None
    if f == "rfdetr":
        return outs["dets"][b], outs["labels"][b], None
    if e["outputs_have_batch_axis"]:
        return outs["boxes"][b], outs["scores"][b][:, None], outs["labels"][b]
    return outs["boxes"], outs["scores"][:, None], outs["labels"]


def check_detector(e, outs, feeds, batch):
    x = feeds[e["inputs"][0]["name"]]
    if e.get("input_pixels") == "u8_nhwc":  # what the graph sees: NCHW bytes / 255
        x = np.transpose(x, (0, 3, 1, 2)).astype(np.float32) * np.float32(1 / 255)
    if e.get("input_pixels") == "u8_nchw":
        x = x.astype(np.float32) * np.float32(1 / 255)
    bg = e["background"].get("score", e["background"].get("logit"))
    for b in range(batch):
        boxes, scores, labels = read_rows(e, outs, b)
        mask = np.ones(scores.shape, bool)
        for p in e["planted"]:
            r = p["score_region"]
            s = float(np.mean(x[b, r["channel"], r["y0"]:r["y1"], r["x0"]:r["x1"]],
                              dtype=np.float64))
            want = p["score_scale"] * s / e.get("pixel_scale", 1)
            col = 0 if scores.shape[1] == 1 else p["class_id"]
            got = float(scores[p["index"], col])
            assert abs(got - want) <= e["score_tolerance"], (e["name"], b, p, got, want)
            box = np.array(p["box_native"])
            if e["family"] == "official_rtdetr":
                w, h = feeds["orig_target_sizes"][b]
                box = box * [w, h, w, h]
            if e["family"] in ("ppyoloe", "ppyoloe_nonms"):  # original px: divided by (sx, sy)
                sy, sx = feeds["scale_factor"][b]
                box = box / np.array([sx, sy, sx, sy], np.float32)
            assert np.allclose(boxes[p["index"]], box, rtol=1e-6, atol=1e-4), (e["name"], p)
            if labels is not None:
                assert int(labels[p["index"]]) == p["class_id"], (e["name"], p)
            mask[p["index"], col] = False
        if e["family"] not in ("yolov7_end2end", "trt_end2end", "yolo_nas", "yolo_nas_flat", "ppyoloe"):
            # decoy rows score 0.1 * s_k; counted rows have stale and padding rows
            assert np.all(scores[mask] == bg), (e["name"], "background")
        if e["family"] == "official_rtdetr":
            planted_rows = [p["index"] for p in e["planted"]]
            assert np.all(np.delete(labels, planted_rows) == 0), e["name"]
        assert len(np.unique(np.round(boxes, 4), axis=0)) == len(boxes), "boxes not distinct"


def selfcheck(out_dir, manifest):
    rng = np.random.default_rng(7)
    for e in manifest["models"]:
        model = onnx.load(os.path.join(out_dir, e["file"]))
        validate(model)
        declared = {v["name"]: v["shape"] for v in e["outputs"]}
        if e["family"] == "special":
            x = rng.random([1, 3, 64, 64] if e["name"] != "no_batch_axis" else [3, 64, 64],
                           dtype=np.float32)
            name = model.graph.input[0].name
            out = run_graph(model, {name: x})
            if e["name"] == "no_batch_axis":
                assert np.allclose(out["y"], x.mean(axis=(1, 2)), atol=1e-6)
            else:
                w = next(numpy_helper.to_array(t) for t in model.graph.initializer
                         if t.name.startswith("W"))
                assert np.allclose(out["output0"], x.mean() * w, atol=1e-5)
                _expect_batch2(model, e, rng)
            print(f"selfcheck ok: {e['name']}")
            continue
        runs_batch2 = e["batch"] == "dynamic" and e["batch2_if_dims_renamed"] == "ok"
        for batch in (1, 2) if runs_batch2 else (1,):
            feeds = make_feeds(e, batch, rng)
            outs = run_graph(model, feeds)
            for name, arr in outs.items():
                want = [batch if d == BATCH else arr.shape[i] if isinstance(d, str) else d
                        for i, d in enumerate(declared[name])]  # other symbols: data-dependent
                assert list(arr.shape) == want, (e["name"], name, arr.shape, want)
            check_detector(e, outs, feeds, batch)
        if e["batch2_if_dims_renamed"] != "ok":
            _expect_batch2(model, e, rng)
        if e["gflops"] is not None:
            assert abs(conv_gflops(model, e["input_size"][0]) - e["gflops"]) < 1e-3, e["name"]
        for p in e["planted"]:
            if p["duplicate_of"] is not None:
                assert p["iou_with_original"] > 0.7, p
        print(f"selfcheck ok: {e['name']}")


def conv_gflops(model, size):
    """Recount the tower's FLOPs from the stored weights (every conv runs at (size/4)^2)."""
    weights = {t.name: t.dims for t in model.graph.initializer}
    total = sum(2 * int(np.prod(weights[n.input[1]])) * (size // 4) ** 2
                for n in model.graph.node if n.op_type == "Conv")
    return total / 1e9


def _expect_batch2(model, e, rng):
    """Renaming dims is not enough: batch 2 must fail or lose/mix items."""
    feeds = {}
    for spec in e["inputs"]:
        shape = [2] + [d for d in spec["shape"][1:]]
        feeds[spec["name"]] = (np.array([[640, 640], [800, 600]], np.int64)
                               if spec["dtype"] == "int64" else rng.random(shape, dtype=np.float32))
    try:
        outs = run_graph(model, feeds)
    except GraphError:
        assert e["batch2_if_dims_renamed"] == "error", (e["name"], "unexpected error")
        return
    assert e["batch2_if_dims_renamed"] == "wrong_result", (e["name"], "batch 2 ran")
    assert all(o.shape[0] != 2 for o in outs.values()), (e["name"], "batch 2 looked right")


def write_limit_models(out_dir):
    """Hostile but valid models for the limits (not in the manifest: nothing should run them).
    huge_input.onnx claims an input of [1, 3, 100000, 100000] (120 GB as float32) and a YOLO-like
    output; huge_output.onnx takes 64x64 and claims an output of [1, 84, 50000000]. Both are a few
    hundred bytes on disk."""
    for name, in_shape, out_shape in (("huge_input", [1, 3, 100000, 100000], [1, 84, 8400]),
                                      ("huge_output", [1, 3, 64, 64], [1, 84, 50000000])):
        g = Graph(name)
        x = g.input("images", TensorProto.FLOAT, in_shape)
        m = g.op("ReduceMean", [x], axes=[1, 2, 3], keepdims=0)                 # [1]
        g.op("Expand", [g.op("Reshape", [m, g.i64([1, 1, 1])]), g.i64(out_shape)], out="output0")
        g.output("output0", TensorProto.FLOAT, out_shape)
        model = g.model()
        validate(model)
        write_atomic(os.path.join(out_dir, name + ".onnx"), model.SerializeToString())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--heavy-gflops", type=float, default=10.0,
                    help="compute per image of the heavy models (default 10)")
    ap.add_argument("--selfcheck", action="store_true",
                    help="validate and evaluate every model after writing it")
    args = ap.parse_args(argv)
    if args.heavy_gflops <= 0:
        ap.error("--heavy-gflops must be positive")
    manifest = generate(args.out, args.heavy_gflops)
    write_limit_models(args.out)
    print(f"wrote {len(manifest['models'])} models and manifest.json to {args.out}")
    if args.selfcheck:
        selfcheck(args.out, manifest)
    return 0



# --------------------------------------------------------------------------------------
# batchify blockers in miniature (issue 14): each static batch-1 graph reproduces one way a
# real DETR-family export (torch 1.13, opset 16) stops batchify. Family "batchify_blocker".
# --------------------------------------------------------------------------------------

def blocker_entry(name, notes):
    e = special_entry(name, notes)
    e["family"] = "batchify_blocker"
    e.update(input_size=[8, 8], batch2_if_dims_renamed="error")
    return e


def build_blocker_gemm(name):
    """torch's nn.MultiheadAttention out_proj: [L, 1, E] flattened to [L, E] before a Gemm."""
    g = Graph(name)
    e = blocker_entry(name, ["Gemm on [L*1, E]: the batch is an extra axis of its 2-D input"])
    x = g.input("x", TensorProto.FLOAT, [1, 6, 8])
    t = g.op("Transpose", [x], perm=[1, 0, 2])                                    # [6, 1, 8]
    flat = g.op("Reshape", [t, g.i64([6, 8])])                                    # [6, 8]
    w = np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8)
    y = g.op("Gemm", [flat, g.f32(w, "W"), g.f32([0.1, -0.2, 0.3, 0.4], "C")], transB=1)
    back = g.op("Reshape", [y, g.i64([6, 1, 4])])
    g.op("Transpose", [back], out="y", perm=[1, 0, 2])
    g.output("y", TensorProto.FLOAT, [1, 6, 4])
    return g, e


def build_blocker_runtime_pad(name):
    """torch's F.pad(x, [0, 1, 0, 1]): pads computed by ConstantOfShape/Concat/Slice/Transpose."""
    g = Graph(name)
    e = blocker_entry(name, ["Pad whose pads are computed at run time from constants"])
    x = g.input("x", TensorProto.FLOAT, [1, 3, 8, 8])
    zeros = g.op("ConstantOfShape", [g.i64([4])],
                 value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
    p = g.op("Concat", [g.i64([0, 1, 0, 1]), zeros], axis=0)                       # torch order
    p = g.op("Reshape", [p, g.i64([-1, 2])])
    p = g.op("Slice", [p, g.i64([-1]), g.i64([-(2 ** 63) + 1]), g.i64([0]), g.i64([-1])])
    p = g.op("Transpose", [p], perm=[1, 0])
    p = g.op("Reshape", [p, g.i64([-1])])
    p = g.op("Cast", [p], to=TensorProto.INT64)
    padded = g.op("Pad", [x, p])                                                    # [1, 3, 9, 9]
    w = np.linspace(-1, 1, 2 * 3 * 9, dtype=np.float32).reshape(2, 3, 3, 3)
    g.op("Conv", [padded, g.f32(w, "W")], out="y")                                 # [1, 2, 7, 7]
    g.output("y", TensorProto.FLOAT, [1, 2, 7, 7])
    return g, e


def build_blocker_expand_anchors(name):
    """D-FINE's query selection: TopK over scores, GatherElements from batch-1 anchors that
    torch expanded with a ConstantOfShape-built shape."""
    g = Graph(name)
    e = blocker_entry(name, ["Expand from ConstantOfShape; GatherElements of batch-1 anchors"])
    x = g.input("x", TensorProto.FLOAT, [1, 10, 4])
    anchors = g.f32(np.linspace(0, 1, 40, dtype=np.float32).reshape(1, 10, 4), "anchors")
    ones = g.op("ConstantOfShape", [g.i64([3])],
                value=helper.make_tensor("v", TensorProto.INT64, [1], [1]))
    shape = g.op("Mul", [ones, g.i64([1, 10, 4])])                                 # [1, 10, 4]
    anchors = g.op("Expand", [anchors, shape])
    scores = g.op("ReduceMax", [x], axes=[2], keepdims=0)                          # [1, 10]
    _, idx = g.op("TopK", [scores, g.i64([5])], n_out=2, axis=1)                  # [1, 5]
    idx = g.op("Unsqueeze", [idx, g.i64([2])])
    idx = g.op("Tile", [idx, g.i64([1, 1, 4])])                                   # [1, 5, 4]
    picked = g.op("GatherElements", [anchors, idx], axis=1)
    g.op("Add", [picked, g.op("GatherElements", [x, idx], axis=1)], out="y")
    g.output("y", TensorProto.FLOAT, [1, 5, 4])
    return g, e


def build_blocker_shape_reshape(name):
    """A Reshape target from Shape -> Slice -> arithmetic -> Concat (torch's x.view(b, -1, 2))."""
    g = Graph(name)
    e = blocker_entry(name, ["Reshape whose target comes from Shape/Slice/Mul/Div/Concat"])
    x = g.input("x", TensorProto.FLOAT, [1, 4, 6])
    s = g.op("Shape", [x])
    b = g.op("Slice", [s, g.i64([0]), g.i64([1])])
    c = g.op("Slice", [s, g.i64([1]), g.i64([2])])
    w = g.op("Slice", [s, g.i64([2]), g.i64([3])])
    n = g.op("Div", [g.op("Mul", [c, w]), g.i64([2])])
    target = g.op("Concat", [b, g.op("Cast", [n], to=TensorProto.INT64), g.i64([2])], axis=0)
    r = g.op("Reshape", [x, target])                                               # [1, 12, 2]
    g.op("Softmax", [r], out="y", axis=1)
    g.output("y", TensorProto.FLOAT, [1, 12, 2])
    return g, e


def build_blocker_heads_gridsample(name):
    """Deformable attention: the batch merged with 2 heads ([B*heads, C, H, W]) around a
    GridSample, then split back and weighted by a softmax."""
    g = Graph(name)
    e = blocker_entry(name, ["GridSample on [batch*heads, ...]; Reshape/Transpose/Softmax/MatMul"])
    x = g.input("x", TensorProto.FLOAT, [1, 6, 4, 4])                              # 2 heads x 3
    value = g.op("Reshape", [x, g.i64([2, 3, 4, 4])])                              # [1*2, 3, 4, 4]
    wg = np.linspace(-1, 1, 4 * 6, dtype=np.float32).reshape(4, 6, 1, 1)
    offs = g.op("Conv", [x, g.f32(wg, "Wg")])                                      # [1, 4, 4, 4]
    offs = g.op("Reshape", [offs, g.i64([1, 2, 2, 16])])
    offs = g.op("Transpose", [offs], perm=[0, 1, 3, 2])                            # [1, 2, 16, 2]
    grid = g.op("Tanh", [g.op("Reshape", [offs, g.i64([2, 4, 4, 2])])])           # [1*2, 4, 4, 2]
    sampled = g.op("GridSample", [value, grid], align_corners=0)                   # [2, 3, 4, 4]
    sampled = g.op("Reshape", [sampled, g.i64([2, 3, 16])])
    attn = g.op("Softmax", [g.op("Reshape", [x, g.i64([2, 3, 16])])], axis=-1)
    mixed = g.op("MatMul", [sampled, g.op("Transpose", [attn], perm=[0, 2, 1])])  # [2, 3, 3]
    g.op("Reshape", [mixed, g.i64([1, 2, 9])], out="y")
    g.output("y", TensorProto.FLOAT, [1, 2, 9])
    return g, e


_model_specs_before_blockers = model_specs


def model_specs(heavy_gflops):  # noqa: F811 (extends the list above)
    return _model_specs_before_blockers(heavy_gflops) + [
        ("blocker_gemm_extra_axis_static", build_blocker_gemm),
        ("blocker_runtime_pad_static", build_blocker_runtime_pad),
        ("blocker_expand_anchors_static", build_blocker_expand_anchors),
        ("blocker_shape_reshape_static", build_blocker_shape_reshape),
        ("blocker_heads_gridsample_static", build_blocker_heads_gridsample),
    ]


_selfcheck_before_blockers = selfcheck


def selfcheck(out_dir, manifest):  # noqa: F811
    """The numpy interpreter lacks GridSample/Gemm/TopK: blockers are validated only."""
    ours = [e for e in manifest["models"] if e["family"] == "batchify_blocker"]
    _selfcheck_before_blockers(out_dir, {**manifest, "models": [
        e for e in manifest["models"] if e["family"] != "batchify_blocker"]})
    for e in ours:
        validate(onnx.load(os.path.join(out_dir, e["file"])))
        print(f"selfcheck ok (validated): {e['name']}")



# --------------------------------------------------------------------------------------
# Ultralytics OBB (issue 22): output0 [B, 4+nc+1, N] = cx, cy, w, h (input px), nc scores,
# angle (radians) per anchor; metadata task "obb" (model-formats-more.md h). The planted rows
# carry rotated boxes; a near-duplicate of object 0 (probiou > 0.7) tests the probiou NMS and an
# angle >= pi/2 tests regularize_rboxes. Each entry also carries the detections an independent
# numpy decoder (below, written from the reference, not from the C++) finds in the outputs that
# this script's own graph interpreter computes for the two test scenes.
# --------------------------------------------------------------------------------------

DOTA15 = ["plane", "ship", "storage tank", "baseball diamond", "tennis court", "basketball court",
          "ground track field", "harbor", "bridge", "large vehicle", "small vehicle", "helicopter",
          "roundabout", "soccer ball field", "swimming pool"]  # ultralytics/cfg/datasets/DOTAv1.yaml
CLASSES_DOTA = [0, 1, 10]        # plane, ship, small vehicle
OBB_ANGLES = [math.radians(30), 2.0, -0.3]   # object 0, 1, 2 (head range [-pi/4, 3pi/4))
# tests/detectors/planted_scene.hpp kSceneA / kSceneB and paint_scene's background.
TEST_SCENES = {"A": [230, 180, 140], "B": [160, 250, 200]}
TEST_BACKGROUND = 40


def build_yolo_obb(name, variant, size=640):
    static = variant == "static"
    nc = len(DOTA15)
    n = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2
    idx = [i * n // 8400 for i in ANCHOR_INDICES_8400]
    planted = scene(size, CLASSES_DOTA, idx, DUPLICATE_ANCHOR_8400 * n // 8400)
    b = 1 if static else BATCH
    e = entry_base(name, "yolo_obb", variant, 1 if static else "dynamic", size, nc, n, "anchor",
                   "cxcywh_px", "prob", planted)
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, n, nc)
    boxes = box_table(n, planted, "cxcywh_px", size).T[None]              # [1, 4, N]
    angles = np.zeros((1, 1, n), np.float32)
    for p in planted:
        angles[0, 0, p.index] = OBB_ANGLES[p.obj]
    e["planted_angles"] = {str(p.index): float(np.float32(OBB_ANGLES[p.obj])) for p in planted}
    s = region_scores(g, x, planted[:K])
    t = g.op("Mul", [g.op("Unsqueeze", [scaled_scores(g, s, planted), g.i64([2])]), g.f32(c[None])])
    scores = g.op("MatMul", [g.op("Transpose", [t], perm=[0, 2, 1]), g.f32(q.T)])  # [B, nc, N]
    if static:
        box_t, ang_t = g.f32(boxes, "anchor_boxes"), g.f32(angles, "anchor_angles")
        bake(e, "Concat", "batch-1 constant box and angle rows concatenated with scores")
    else:
        box_t = g.op("Expand", [g.f32(boxes, "anchor_boxes"), with_batch(g, x, [4, n])])
        ang_t = g.op("Expand", [g.f32(angles, "anchor_angles"), with_batch(g, x, [1, n])])
    g.op("Concat", [box_t, scores, ang_t], axis=1, out="output0")
    g.output("output0", TensorProto.FLOAT, [b, 4 + nc + 1, n])
    meta = ultralytics_metadata(DOTA15, size)
    meta["task"] = "obb"
    e["metadata_props"] = meta
    return g, e


def ref_probiou(b1, b2, eps=1e-7):
    """ultralytics/utils/metrics.py batch_probiou, [n, 5] x [m, 5] xywhr -> [n, m], float64."""
    def cov(b):
        a, bb, t = b[:, 2] ** 2 / 12, b[:, 3] ** 2 / 12, b[:, 4]
        cs, sn = np.cos(t), np.sin(t)
        return a * cs ** 2 + bb * sn ** 2, a * sn ** 2 + bb * cs ** 2, (a - bb) * cs * sn
    x1, y1 = b1[:, 0:1], b1[:, 1:2]
    x2, y2 = b2[None, :, 0], b2[None, :, 1]
    a1, bb1, c1 = (v[:, None] for v in cov(b1))
    a2, bb2, c2 = (v[None] for v in cov(b2))
    den = (a1 + a2) * (bb1 + bb2) - (c1 + c2) ** 2
    t1 = ((a1 + a2) * (y1 - y2) ** 2 + (bb1 + bb2) * (x1 - x2) ** 2) / (den + eps) * 0.25
    t2 = ((c1 + c2) * (x2 - x1) * (y1 - y2)) / (den + eps) * 0.5
    t3 = np.log(den / (4 * np.sqrt(np.clip(a1 * bb1 - c1 ** 2, 0, None) *
                                   np.clip(a2 * bb2 - c2 ** 2, 0, None)) + eps) + eps) * 0.5
    bd = np.clip(t1 + t2 + t3, eps, 100.0)
    return 1 - np.sqrt(1.0 - np.exp(-bd) + eps)


def ref_decode_obb(out, nc, conf=0.25, iou=0.7, max_det=300):
    """non_max_suppression(rotated=True) + regularize_rboxes for one item's [4+nc+1, N], identity
    letterbox (the scenes are painted at the input size). -> [(class_id, score, [x,y,w,h,r])]."""
    o = out.astype(np.float64).T                                       # [N, 4+nc+1]
    cls = o[:, 4:4 + nc]
    score, label = cls.max(1), cls.argmax(1)
    keep = score > conf
    o, score, label = o[keep], score[keep], label[keep]
    order = np.argsort(-score, kind="stable")
    o, score, label = o[order], score[order], label[order]
    boxes = np.concatenate([o[:, :2] + label[:, None] * 7680.0, o[:, 2:4], o[:, -1:]], axis=1)
    ious = np.triu(ref_probiou(boxes, boxes), k=1)
    pick = np.nonzero((ious >= iou).sum(0) <= 0)[0][:max_det]
    dets = []
    for i in pick:
        x, y, w, h, t = o[i, 0], o[i, 1], o[i, 2], o[i, 3], o[i, -1]
        if t % math.pi >= math.pi / 2:
            w, h = h, w
        dets.append({"class_id": int(label[i]), "score": float(score[i]),
                     "xywhr": [float(x), float(y), float(w), float(h), float(t % (math.pi / 2))]})
    return dets


def paint_test_scene(e, values):
    size = e["input_size"][0]
    x = np.full((1, 3, size, size), TEST_BACKGROUND / 255, np.float32)
    for p in e["planted"]:
        if p["duplicate_of"] is not None:
            continue
        r = p["score_region"]
        x[0, r["channel"], r["y0"]:r["y1"], r["x0"]:r["x1"]] = np.float32(values[p["object"]] / 255)
    return x


def add_obb_reference(model, e):
    e["reference_detections"] = {}
    for key, values in TEST_SCENES.items():
        out = run_graph(model, {"images": paint_test_scene(e, values)})["output0"][0]
        e["reference_detections"][key] = ref_decode_obb(out, e["num_class_slots"])
    return e


_model_specs_before_obb = model_specs


def model_specs(heavy_gflops):  # noqa: F811 (extends the list above)
    return _model_specs_before_obb(heavy_gflops) + [
        (f"yolo_obb_{v}", lambda n, v=v: build_yolo_obb(n, v)) for v in ("dynamic", "static")]


_finish_entry_before_obb = finish_entry


def finish_entry(model, e):  # noqa: F811
    e = _finish_entry_before_obb(model, e)
    return add_obb_reference(model, e) if e["family"] == "yolo_obb" else e


_read_rows_before_obb = read_rows


def read_rows(e, outs, b):  # noqa: F811
    if e["family"] == "yolo_obb":
        o = outs["output0"][b]
        return o[:4].T, o[4:-1].T, None
    return _read_rows_before_obb(e, outs, b)


# --------------------------------------------------------------------------------------
# Ultralytics segmentation (issue 22): output0 [B, 4+nc+32, N] + output1 prototypes
# [B, 32, H/4, W/4] (model-formats-more.md g). The prototypes are computed from the image:
# channels 0..2 = 4x4 mean of the R, G, B planes - 0.5 (a stride-4 conv), channels 3..31 = a
# fixed random stride-4 conv. Planted object k's coefficients pick the plane its score region is
# painted in (plus 0.05 x channel 3 + k), so its mask is where that plane is bright inside its
# box: image-dependent masks. The manifest carries an independent numpy decoder's detections
# (process_mask_native, written from the reference) for the two test scenes, masks as COCO RLE.
# --------------------------------------------------------------------------------------

NM = 32
# The interpreter's Conv, with the optional bias input the prototype conv uses.
OPS["Conv"] = lambda v, a: [_conv(v[0], v[1], a) + (v[2].reshape(1, -1, 1, 1) if len(v) > 2 else np.float32(0))]


def build_yolo_seg(name, variant, size=640):
    static = variant == "static"
    nc = 80
    n = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2
    idx = [i * n // 8400 for i in ANCHOR_INDICES_8400]
    planted = scene(size, CLASSES_COCO80, idx, DUPLICATE_ANCHOR_8400 * n // 8400)
    b = 1 if static else BATCH
    e = entry_base(name, "yolo_seg", variant, 1 if static else "dynamic", size, nc, n, "anchor",
                   "cxcywh_px", "prob", planted)
    g = Graph(name)
    x = g.input("images", TensorProto.FLOAT, [b, 3, size, size])
    q, c = slot_weights(planted, n, nc)
    boxes = box_table(n, planted, "cxcywh_px", size).T[None]              # [1, 4, N]
    coef = np.zeros((1, NM, n), np.float32)
    for p in planted:
        ch = p.region["channel"]
        coef[0, ch, p.index] = 1.0
        coef[0, 3 + p.obj, p.index] = 0.05
    s = region_scores(g, x, planted[:K])
    t = g.op("Mul", [g.op("Unsqueeze", [scaled_scores(g, s, planted), g.i64([2])]), g.f32(c[None])])
    scores = g.op("MatMul", [g.op("Transpose", [t], perm=[0, 2, 1]), g.f32(q.T)])  # [B, nc, N]
    if static:
        box_t, coef_t = g.f32(boxes, "anchor_boxes"), g.f32(coef, "mask_coefficients")
        bake(e, "Concat", "batch-1 constant box and coefficient rows concatenated with scores")
    else:
        box_t = g.op("Expand", [g.f32(boxes, "anchor_boxes"), with_batch(g, x, [4, n])])
        coef_t = g.op("Expand", [g.f32(coef, "mask_coefficients"), with_batch(g, x, [NM, n])])
    g.op("Concat", [box_t, scores, coef_t], axis=1, out="output0")
    rng = np.random.default_rng(20261129)
    w = rng.uniform(-0.05, 0.05, (NM, 3, 4, 4)).astype(np.float32)
    w[:3] = 0
    for ch in range(3):
        w[ch, ch] = 1 / 16
    bias = np.zeros(NM, np.float32)
    bias[:3] = -0.5
    g.op("Conv", [x, g.f32(w, "proto_w"), g.f32(bias, "proto_b")], out="output1",
         kernel_shape=[4, 4], strides=[4, 4])
    g.output("output0", TensorProto.FLOAT, [b, 4 + nc + NM, n])
    g.output("output1", TensorProto.FLOAT, [b, NM, size // 4, size // 4])
    meta = ultralytics_metadata(COCO80, size)
    meta["task"] = "segment"
    e["metadata_props"] = meta
    return g, e


def ref_bilinear_upsample(m, out_h, out_w):
    """torch F.interpolate(mode='bilinear', align_corners=False) of one [h, w] plane."""
    h, w = m.shape

    def axis(out, size):
        src = np.maximum((np.arange(out) + 0.5) * (size / out) - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i0 = np.minimum(i0, size - 1)
        i1 = np.minimum(i0 + 1, size - 1)
        return i0, i1, src - i0
    y0, y1, ly = axis(out_h, h)
    x0, x1, lx = axis(out_w, w)
    top = m[y0][:, x0] * (1 - lx) + m[y0][:, x1] * lx
    bot = m[y1][:, x0] * (1 - lx) + m[y1][:, x1] * lx
    return top * (1 - ly[:, None]) + bot * ly[:, None]


def ref_rle(mask):
    """pycocotools-style uncompressed counts: column-major runs starting with zeros."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            run, value = 0, v
        run += 1
    counts.append(run)
    return counts


def ref_decode_seg(out0, protos, nc, conf=0.25, iou_thr=0.7, max_det=300):
    """non_max_suppression + process_mask_native at identity letterbox (the scenes are painted at
    the input size): -> [(class_id, score, box, rle counts over the input frame)]."""
    o = out0.astype(np.float64).T
    cls = o[:, 4:4 + nc]
    score, label = cls.max(1), cls.argmax(1)
    keep = score > conf
    o, score, label = o[keep], score[keep], label[keep]
    order = np.argsort(-score, kind="stable")
    o, score, label = o[order], score[order], label[order]
    xyxy = np.stack([o[:, 0] - o[:, 2] / 2, o[:, 1] - o[:, 3] / 2,
                     o[:, 0] + o[:, 2] / 2, o[:, 1] + o[:, 3] / 2], 1)
    kept = []
    for i in range(len(o)):
        if all(label[j] != label[i] or iou(xyxy[j], xyxy[i]) <= iou_thr for j in kept):
            kept.append(i)
    nm, mh, mw = protos.shape
    size_h, size_w = mh * 4, mw * 4
    dets = []
    for i in kept[:max_det]:
        logits = (o[i, 4 + nc:] @ protos.reshape(nm, -1).astype(np.float64)).reshape(mh, mw)
        up = ref_bilinear_upsample(logits, size_h, size_w)
        x1, y1, x2, y2 = np.clip(xyxy[i], 0, [size_w, size_h, size_w, size_h])
        r = np.arange(size_w)[None, :]
        c = np.arange(size_h)[:, None]
        m = (up > 0) & (r >= x1) & (r < x2) & (c >= y1) & (c < y2)
        if not m.any():
            continue
        dets.append({"class_id": int(label[i]), "score": float(score[i]),
                     "box": [float(v) for v in (x1, y1, x2, y2)], "area": int(m.sum()),
                     "rle_counts": [int(v) for v in ref_rle(m)]})
    return dets


def add_seg_reference(model, e):
    e["reference_detections"] = {}
    for key, values in TEST_SCENES.items():
        outs = run_graph(model, {"images": paint_test_scene(e, values)})
        e["reference_detections"][key] = ref_decode_seg(outs["output0"][0], outs["output1"][0],
                                                        e["num_class_slots"])
    return e


_model_specs_before_seg = model_specs


def model_specs(heavy_gflops):  # noqa: F811 (extends the list above)
    return _model_specs_before_seg(heavy_gflops) + [
        (f"yolo_seg_{v}", lambda n, v=v: build_yolo_seg(n, v)) for v in ("dynamic", "static")]


_finish_entry_before_seg = finish_entry


def finish_entry(model, e):  # noqa: F811
    e = _finish_entry_before_seg(model, e)
    return add_seg_reference(model, e) if e["family"] == "yolo_seg" else e


_read_rows_before_seg = read_rows


def read_rows(e, outs, b):  # noqa: F811
    if e["family"] == "yolo_seg":
        o = outs["output0"][b]
        return o[:4].T, o[4:4 + e["num_class_slots"]].T, None
    return _read_rows_before_seg(e, outs, b)

if __name__ == "__main__":
    sys.exit(main())
