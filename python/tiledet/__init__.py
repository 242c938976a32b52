"""tiledet: object detectors exported to ONNX, over large images, tiles of every image and every
thread sharing one dynamic batcher (C++ engine on ONNX Runtime).

    import tiledet
    p = tiledet.Pipeline("model.onnx", tile=640)
    d = p.detect("big.jpg")                # or an np.ndarray [H, W, 3] uint8 BGR (rgb=True for RGB)
    d.xyxy, d.confidence, d.class_id       # float32 [N, 4] pixels, float32 [N], int64 [N]

Errors are tiledet.Error subclasses whose str() is the command line's one-line message:
InputError, ModelError (ShapeError, UnknownLayoutError), ConfigError (also a ValueError) and its
OptionError (.option: the keyword's name), RuntimeFailure, DeadlineExpired, Cancelled,
QueueFull, ShutDown. Arrays of the wrong dtype, shape or strides raise ValueError.
"""
from __future__ import annotations

import atexit as _atexit
import os as _os
import queue as _queue
import threading as _threading
import warnings as _warnings
import weakref as _weakref

import numpy as _np

# ONNX Runtime 1.29 uploads usage telemetry from Linux unless this is set before its first OrtEnv;
# tiledet opts out unless the user set it (ORT_DISABLE_TELEMETRY=0 opts in). See
# tiledet::disable_onnxruntime_telemetry_unless_asked in include/tiledet/runtime/model.hpp.
if not _os.environ.get("ORT_DISABLE_TELEMETRY"):  # unset or empty
    _os.environ["ORT_DISABLE_TELEMETRY"] = "1"

from . import _tiledet  # noqa: E402
from ._detections import Detections
from ._tiledet import (Cancelled, ConfigError, DeadlineExpired, Error, InputError, ModelError, OptionError,
                       QueueFull, RuntimeFailure, ShapeError, ShutDown, UnknownLayoutError, available_providers,
                       batchify, inspect, option_specs, runtime_version)

__all__ = [
    "Pipeline", "Detections", "load_image", "inspect", "batchify", "evaluate", "option_specs", "runtime_version",
    "available_providers", "Error", "InputError", "ModelError", "ShapeError", "UnknownLayoutError", "ConfigError",
    "OptionError", "RuntimeFailure", "DeadlineExpired", "Cancelled", "QueueFull", "ShutDown",
]
__version__ = "0.1.0"


def _option_text(name, value):
    """A keyword's value as the text tiledet's option table parses (no second parser here)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        if name == "tile" and (len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value)):
            error = OptionError("tile: expected (W, H) with two whole pixel sizes > 0, got %r" % (value,))
            error.option = "tile"
            raise error
        sep = "x" if name == "tile" else ","
        return sep.join(_option_text(name, v) for v in value)
    return str(value)


# Futures from Pipeline.submit are completed here, on one daemon thread of this module, not on the
# pipeline's own completion thread, so a done-callback may call detect() or close() on the same
# pipeline. (A done-callback that waits on another submit() future of any pipeline would wait for
# this very thread: use detect() there.)
_dispatch_queue = _queue.SimpleQueue()


def _dispatch(future, is_error, value):
    _dispatch_queue.put((future, is_error, value))


def _dispatch_barrier():
    """Until every future handed to the dispatcher so far is completed (a no-op on its own thread)."""
    if _threading.current_thread() is _dispatcher_thread:
        return
    done = _threading.Event()
    _dispatch_queue.put((None, None, done))
    done.wait()


def _dispatcher():
    while True:
        future, is_error, value = _dispatch_queue.get()
        if future is None:
            value.set()
            continue
        try:
            if future.cancelled():
                continue
            if is_error:
                future.set_exception(value)
            else:
                future.set_result(value)
        except Exception:  # an InvalidStateError from a future cancelled meanwhile
            pass


_dispatcher_thread = _threading.Thread(target=_dispatcher, name="tiledet-futures", daemon=True)
_dispatcher_thread.start()


# Pipelines still open at exit are closed before the interpreter goes away, so no completion
# thread waits for a GIL that will never come back.
_open_pipelines = _weakref.WeakSet()


@_atexit.register
def _close_all():
    for p in list(_open_pipelines):
        p.close()


def load_image(path, *, max_image_pixels=None):
    """An image file (str or os.PathLike) decoded as tiledet decodes it, EXIF orientation applied:
    np.ndarray [H, W, 3] uint8, BGR. max_image_pixels: refuse larger images from their header,
    before decoding (None: the pipeline's default, 2^28; 0: no limit). Raises InputError,
    OptionError (over the limit)."""
    if max_image_pixels is None:
        return _tiledet.load_image(_os.fspath(path))
    return _tiledet.load_image(_os.fspath(path), max_image_pixels=max_image_pixels)


def _check_keywords(method, given, accepted):
    for name in given:
        if name not in accepted:
            options = " (thresholds and tiling are Pipeline(...) options)" if name in _OPTION_NAMES else ""
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}; it takes "
                            + ", ".join(f"{a}=" for a in accepted) + options)


_OPTION_NAMES = frozenset(s["name"] for s in option_specs())


class Pipeline(_tiledet._Pipeline):
    """A model loaded once, with one dynamic batcher that every image and thread shares.

    Pipeline(model, *, tile=None, overlap=0.2, full_image=False, merge="greedy-nmm", match="ios",
             conf=None, iou=None, classes=None, batch=None, max_delay_ms=2, instances=None, threads=None,
             provider="cpu", family=None, config="auto", **options)

    model         path to an ONNX file (any family `tiledet inspect` recognizes)
    tile          None (the whole image, resized to the model input), "auto", SIZE or (W, H)
                  in pixels (0: the model's input size)
    overlap       tile overlap: a ratio < 1 of the tile, or whole pixels >= 1
    full_image    also run the whole image as one more tile (SAHI's standard prediction)
    merge, match  cross-tile merge: "nms", "nmm", "greedy-nmm"; metric "iou" or "ios"
    conf, iou     confidence threshold and NMS IoU in [0, 1] (None: the family's reference defaults)
    classes       keep only these class ids (list of int)
    batch         max batch of a dynamic-batch model; max_delay_ms: how long a tile waits for
                  company (ms)
    instances     model instances running batches at once; threads: CPU threads in all (0: all)
    config        "auto": batch, instances and threads not given here are chosen by a short
                  measurement (about 2 s, once per model and machine, then cached in
                  ~/.cache/tiledet; see the .config property); "manual": batch 8, 1 instance,
                  every core unless given
    provider      "cpu", "cuda", "tensorrt" (or a list, in priority order)
    family        force a family ("yolo", "official_rtdetr", ...; None: from the signature)
    **options     every other option of tiledet.option_specs() (max_det, agnostic, imgsz, names,
                  merge_threshold, max_tiles, max_image_pixels, probe_sizes, verbose, ...)

    Raises OptionError (a bad value; .option names the keyword), InputError (missing or
    unreadable model), UnknownLayoutError (no family fits: pass family=), ConfigError.
    Thread-safe: detect / detect_many / submit from any number of threads; close() (or a with
    block) frees the model.
    """

    def __init__(self, model, *, tile=None, overlap=0.2, full_image=False, merge="greedy-nmm", match="ios",
                 conf=None, iou=None, classes=None, batch=None, max_delay_ms=2, instances=None, threads=None,
                 provider="cpu", family=None, config="auto", **options):
        given = dict(tile=tile, overlap=overlap, full_image=full_image, merge=merge, match=match, conf=conf, iou=iou,
                     classes=classes, batch=batch, max_delay_ms=max_delay_ms, instances=instances, threads=threads,
                     provider=provider, family=family, config=config)
        given.update(options)
        pairs = [(name, _option_text(name, value)) for name, value in given.items() if value is not None]
        super().__init__(_os.fspath(model), pairs)
        _open_pipelines.add(self)

    # Keyword mistakes as one line that says what the call takes (pybind11's own TypeError lists
    # every overload's C++ signature over several lines).
    def detect(self, image, **kwargs):
        _check_keywords("detect", kwargs, ("rgb", "label"))
        return super().detect(image, **kwargs)

    def detect_many(self, images, **kwargs):
        _check_keywords("detect_many", kwargs, ("rgb", "return_exceptions", "labels"))
        return super().detect_many(images, **kwargs)

    def submit(self, image, **kwargs):
        _check_keywords("submit", kwargs, ("rgb", "label"))
        return super().submit(image, **kwargs)

    detect.__doc__ = _tiledet._Pipeline.detect.__doc__
    detect_many.__doc__ = _tiledet._Pipeline.detect_many.__doc__
    submit.__doc__ = _tiledet._Pipeline.submit.__doc__

    def __enter__(self):
        return self

    def close(self):
        """Cancel queued images (their futures raise Cancelled), wait for running batches, free the
        model; when it returns, every future of this pipeline is done."""
        super().close()
        _dispatch_barrier()

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        if self.closed:
            return f"Pipeline({self.model!r}, closed)"
        h, w = self.input_size
        return f"Pipeline({self.model!r}, family={self.family!r}, input={w}x{h}, {self.batch_kind}, {self.device})"


def evaluate(model, images, labels, *, limit=0, area_ranges=False, conf=0.001, iou=0.7, max_det=300, **options):
    """COCO mAP (pycocotools' rules) of `model` on a folder of images with YOLO-format labels.

    What `tiledet eval --json` reports: images run through a Pipeline (every keyword of
    Pipeline, so tile=640 gives the tiled mAP); defaults are Ultralytics' val (conf 0.001, IoU
    0.7, 300 detections). labels: a folder with <image stem>.txt per image (absent: background).
    Returns a dict: images, background_images, gt_boxes, detections, map, map50, map75, mar100,
    map_small/medium/large (only with area_ranges), failed_images (unreadable images: a warning
    each, then skipped), per_class [{class_id, name, gt, detections,
    ap, ap50, ap75}]. Raises InputError for a missing folder or an unreadable label file.
    """
    if not _os.path.isdir(labels):
        raise InputError(f"labels folder {labels} does not exist or is not a folder; pass labels=DIR with one "
                         "YOLO .txt file per image (same stem)")
    files = _tiledet._list_images(_os.fspath(images))
    if limit and len(files) > limit:
        files = files[:limit]
    if not files:
        raise InputError(f"no image files in {images}; expected .jpg/.png/... files")
    evaluator = _tiledet._CocoEvaluator(area_ranges=area_ranges)
    background = failed = 0
    with Pipeline(model, conf=conf, iou=iou, max_det=max_det, **options) as p:
        results = p.detect_many(files, return_exceptions=True)
        names = p.class_names
        family = p.family
    for path, d in zip(files, results):
        if isinstance(d, Exception):  # reported and skipped, as `tiledet eval` does
            _warnings.warn(str(d))
            failed += 1
            continue
        label = _tiledet._yolo_label_path(path, _os.fspath(labels))
        if _os.path.exists(label):
            gt_xyxy, gt_cls = _tiledet._load_yolo_labels(label, d.width, d.height)
        else:  # no label file: a background image
            gt_xyxy, gt_cls = _np.zeros((0, 4), _np.float32), _np.zeros(0, _np.int64)
        if len(gt_cls) == 0:
            background += 1
        evaluator.add_image(gt_xyxy, gt_cls, d.xyxy, d.confidence, d.class_id)
    r = evaluator.evaluate()
    for c in r["per_class"]:
        c["name"] = names.get(c["class_id"], str(c["class_id"]))
    r.update(model=_os.fspath(model), family=family, background_images=background, failed_images=failed)
    if not area_ranges:
        for k in ("map_small", "map_medium", "map_large"):
            r.pop(k)
    return r
