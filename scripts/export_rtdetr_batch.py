#!/usr/bin/env python3
"""Export Hugging Face RT-DETR (and RT-DETRv2, D-FINE where the installed transformers has them)
to ONNX with a dynamic batch axis on every input and output, then check the signature.

The original fix's step 1: a batch-1 export makes ONNX Runtime reject two tiles in one batch; an
export whose inputs and outputs all start with a symbolic 'batch' dimension batches them
(['batch', 3, 640, 640]). --static exports the batch-1 model that shows the problem.

  export_rtdetr_batch.py --model r50vd --out models/               # dynamic batch
  export_rtdetr_batch.py --model r50vd --static --out models/      # batch 1 (the broken one)
  export_rtdetr_batch.py --model both --random-init --out models/  # no weight download
  export_rtdetr_batch.py --check models/rtdetr_r50vd_dynamic.onnx  # signature check only

The export needs torch and transformers (imported only then); --help and --check do not. The
check reads the model with the `onnx` Python package when it is installed, else with
`tiledet inspect --json` (--tiledet PATH, $TILEDET_CLI, build/bin/tiledet or tiledet on PATH);
with ONNX Runtime's Python package installed it also runs the model at batch 1 and 3.
Exit: 0 ok; 1 the export or the signature check failed; 2 bad arguments or a missing package.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

# Hugging Face Hub ids and transformers classes. Sources: the model cards of PekingU/rtdetr_r50vd,
# PekingU/rtdetr_r101vd, PekingU/rtdetr_v2_r50vd and ustc-community/dfine-large-coco, and the
# transformers docs (model_doc/rt_detr, rt_detr_v2, d_fine).
MODELS = {
    "r50vd": ("PekingU/rtdetr_r50vd", "RTDetrConfig", "RTDetrForObjectDetection"),
    "r101vd": ("PekingU/rtdetr_r101vd", "RTDetrConfig", "RTDetrForObjectDetection"),
    "v2-r50vd": ("PekingU/rtdetr_v2_r50vd", "RTDetrV2Config", "RTDetrV2ForObjectDetection"),
    "dfine-l": ("ustc-community/dfine-large-coco", "DFineConfig", "DFineForObjectDetection"),
}
INPUT_NAMES = ["pixel_values"]
OUTPUT_NAMES = ["logits", "pred_boxes"]  # what tiledet's hf_rtdetr family reads
MIN_OPSET = 17  # the original fix: opset 17 or newer (LayerNormalization is a single op from 17)


class UsageError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Export Hugging Face RT-DETR to ONNX with a dynamic batch axis and check its signature.",
        epilog="The export needs torch and transformers; --check needs neither.")
    p.add_argument("--model", default="r50vd",
                   help="r50vd, r101vd, both (r50vd and r101vd), v2-r50vd (RT-DETRv2), dfine-l (D-FINE-L), "
                        "or a comma-separated list (default r50vd)")
    p.add_argument("--out", default=".", help="folder for the .onnx files (default: .)")
    p.add_argument("--static", action="store_true", help="export batch 1 (the broken model the fix repairs)")
    p.add_argument("--random-init", action="store_true",
                   help="random weights from the architecture's config: no weight download (fine for timing)")
    p.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset, >= {MIN_OPSET} (default {MIN_OPSET})")
    p.add_argument("--imgsz", type=int, default=640, help="input side in pixels (default 640)")
    p.add_argument("--check", metavar="ONNX", nargs="+",
                   help="only check these files' signatures (dynamic batch, or batch 1 with --static)")
    p.add_argument("--tiledet", help="tiledet CLI for the check when the onnx package is missing")
    a = p.parse_args(argv)
    if a.opset < MIN_OPSET:
        raise UsageError(f"--opset: expected {MIN_OPSET} or newer, got {a.opset}")
    if a.imgsz < 32 or a.imgsz % 32:
        raise UsageError(f"--imgsz: expected a multiple of 32 (RT-DETR's largest stride), got {a.imgsz}")
    names = []
    for m in a.model.split(","):
        m = m.strip()
        if m == "both":
            names += ["r50vd", "r101vd"]
        elif m in MODELS:
            names.append(m)
        else:
            raise UsageError(f"--model: unknown '{m}'; expected one of: {', '.join(list(MODELS) + ['both'])}")
    a.models = list(dict.fromkeys(names))
    return a


# ---- the signature check ---------------------------------------------------------------------

def dims_from_onnx(path):
    import onnx  # Debian's python3-onnx, installed by scripts/setup.sh

    model = onnx.load(path, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}

    def dims(vi):
        return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
                for d in vi.type.tensor_type.shape.dim]
    ins = [(v.name, dims(v)) for v in model.graph.input if v.name not in inits]
    outs = [(v.name, dims(v)) for v in model.graph.output]
    return ins, outs


def find_tiledet(explicit):
    if explicit:  # named: that one or none
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    for c in [os.environ.get("TILEDET_CLI"),
              os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin", "tiledet"),
              shutil.which("tiledet")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def dims_from_tiledet(path, tiledet):
    r = subprocess.run([tiledet, "inspect", "--json", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tiledet inspect failed: {(r.stderr or r.stdout).strip()}")
    j = json.loads(r.stdout)
    conv = lambda t: (t["name"], [d if isinstance(d, (int, str)) else str(d) for d in t["dims"]])
    return [conv(t) for t in j["inputs"]], [conv(t) for t in j["outputs"]]


def read_signature(path, tiledet=None):
    """(inputs, outputs) as [(name, [dim, ...])]; a dim is an int or a symbol name."""
    if not os.path.isfile(path):
        raise RuntimeError(f"{path}: no such file")
    try:
        import onnx  # noqa: F401
    except ImportError:
        cli = find_tiledet(tiledet)
        if not cli:
            raise RuntimeError("reading the signature needs the onnx Python package (Debian: python3-onnx, "
                               "scripts/setup.sh installs it) or the tiledet CLI (--tiledet PATH" +
                               (f"; '{tiledet}' is not an executable" if tiledet else "") + ")")
        return dims_from_tiledet(path, cli)
    return dims_from_onnx(path)


def fmt(dims):
    return "[" + ", ".join(repr(d) if isinstance(d, str) else str(d) for d in dims) + "]"


def check_signature(path, static=False, tiledet=None, out=sys.stdout):
    """Prints each tensor's dims; returns a list of problems (empty: the check passed)."""
    ins, outs = read_signature(path, tiledet)
    problems = []
    print(f"{path}:", file=out)
    for kind, tensors in (("input", ins), ("output", outs)):
        for name, dims in tensors:
            print(f"  {kind} {name}: {fmt(dims)}", file=out)
            lead = dims[0] if dims else None
            if static and lead != 1:
                problems.append(f"{kind} '{name}' is {fmt(dims)}: expected batch 1 first (--static)")
            elif not static and not (isinstance(lead, str) and lead not in ("", "?")):
                problems.append(f"{kind} '{name}' is {fmt(dims)}: expected a symbolic batch dimension first "
                                f"(like ['batch', 3, 640, 640]); re-export with dynamic axes, or repair it with "
                                f"`tiledet batchify IN.onnx OUT.onnx`")
    if not ins:
        problems.append("no inputs")
    print(f"  signature check: {'passed' if not problems else 'FAILED'} "
          f"({'static batch 1' if static else 'dynamic batch on every input and output'})", file=out)
    for p in problems:
        print(f"  - {p}", file=out)
    return problems


# ---- the export (torch and transformers, imported only here) -----------------------------------

def import_export_deps():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise UsageError(f"the export needs torch and transformers ({e}); install them "
                         f"(pip install torch transformers onnx) or run this on the accelerator machine, "
                         f"which has them. --check works without them.")
    return torch, transformers


def build_model(transformers, key, random_init):
    hub_id, config_cls, model_cls = MODELS[key]
    if not hasattr(transformers, model_cls):
        raise UsageError(f"--model {key}: transformers {transformers.__version__} has no {model_cls}; "
                         f"upgrade transformers or choose another model")
    Config, Model = getattr(transformers, config_cls), getattr(transformers, model_cls)
    if not random_init:
        return Model.from_pretrained(hub_id), hub_id
    try:  # the config is small and often cached; the weights are what a closed machine lacks
        config = Config.from_pretrained(hub_id)
        source = f"{hub_id} config, random weights"
    except Exception:
        # transformers documents each Config's defaults as its reference checkpoint's
        # architecture (RTDetrConfig(): PekingU/rtdetr_r50vd). r101vd differs in the backbone depth
        # (ResNet-101: 3, 4, 23, 3 blocks) and the encoder width (384), as in its config.json.
        config = Config()
        if key == "r101vd":
            config.backbone_config.depths = [3, 4, 23, 3]
            config.encoder_hidden_dim = 384
        source = f"{config_cls}() defaults{' with R101 depths' if key == 'r101vd' else ''}, random weights (offline)"
    return Model(config), source


def export_one(torch, transformers, key, a):
    model, source = build_model(transformers, key, a.random_init)
    model.eval()

    class Outputs(torch.nn.Module):  # a plain tuple out, named as tiledet's hf_rtdetr family reads them
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            o = self.m(pixel_values=pixel_values)
            return o.logits, o.pred_boxes

    wrapped = Outputs(model).eval()
    # Trace at batch 2 for the dynamic export, so nothing specializes on batch 1.
    x = torch.rand(1 if a.static else 2, 3, a.imgsz, a.imgsz)
    path = os.path.join(a.out, f"rtdetr_{key.replace('-', '_')}_{'static' if a.static else 'dynamic'}.onnx")
    dynamic_axes = None if a.static else {n: {0: "batch"} for n in INPUT_NAMES + OUTPUT_NAMES}
    with torch.no_grad():
        try:
            # The TorchScript exporter: dynamic_axes names the symbol 'batch'.
            torch.onnx.export(wrapped, (x,), path, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                              dynamic_axes=dynamic_axes, opset_version=a.opset, dynamo=False)
        except Exception as e:  # a torch without the TorchScript exporter, or one that fails on this graph
            print(f"TorchScript export failed ({type(e).__name__}: {str(e)[:200]}); trying torch.export (dynamo)",
                  file=sys.stderr)
            kw = {} if a.static else {"dynamic_shapes": {"pixel_values": {0: torch.export.Dim("batch", min=1, max=64)}}}
            torch.onnx.export(wrapped, (x,), path, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                              opset_version=a.opset, dynamo=True, **kw)
    print(f"exported {key} ({source}) -> {path} (opset {a.opset}, torch {torch.__version__}, "
          f"transformers {transformers.__version__})")
    return path


def check_runs(path, static, imgsz):
    """A declared 'batch' can still hide a baked batch of 1 (a traced reshape): run the export at
    batch 1 and 3 with ONNX Runtime's Python package when it is installed. Returns problems."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("  run check: skipped (no onnxruntime Python package)")
        return []
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    problems = []
    for b in ([1] if static else [1, 3]):
        try:
            outs = sess.run(None, {INPUT_NAMES[0]: np.random.rand(b, 3, imgsz, imgsz).astype(np.float32)})
            shapes = [list(o.shape) for o in outs]
            if any(s[0] != b for s in shapes):
                problems.append(f"at batch {b} the outputs are {shapes}: the batch does not carry through")
        except Exception as e:
            problems.append(f"ONNX Runtime fails at batch {b}: {str(e)[:300]}")
    print(f"  run check (ONNX Runtime {ort.__version__}, batch {'1' if static else '1 and 3'}): "
          f"{'passed' if not problems else 'FAILED'}")
    for p in problems:
        print(f"  - {p}")
    return problems


def main(argv=None):
    try:
        a = parse_args(sys.argv[1:] if argv is None else argv)
        if a.check:
            failed = 0
            for path in a.check:
                try:
                    problems = check_signature(path, a.static, a.tiledet)
                    failed += bool(problems or check_runs(path, a.static, a.imgsz))
                except RuntimeError as e:
                    print(f"{path}: {e}", file=sys.stderr)
                    failed += 1
            return 1 if failed else 0
        torch, transformers = import_export_deps()
        os.makedirs(a.out, exist_ok=True)
        failed = 0
        for key in a.models:
            try:
                path = export_one(torch, transformers, key, a)
                problems = check_signature(path, a.static, a.tiledet) + check_runs(path, a.static, a.imgsz)
                failed += bool(problems)
            except UsageError:
                raise
            except Exception as e:  # one model's failure does not stop the others
                print(f"export of {key} failed: {type(e).__name__}: {e}", file=sys.stderr)
                failed += 1
        return 1 if failed else 0
    except UsageError as e:
        print(f"export_rtdetr_batch: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
