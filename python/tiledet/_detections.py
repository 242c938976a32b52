"""tiledet.Detections: one image's merged detections, in supervision's field names."""
from __future__ import annotations

import json as _json

import numpy as np


class Detections:
    """One image's detections, merged across tiles, in original image pixels.

    Attributes (N detections, best first):
      xyxy        float32 [N, 4]  corners x1, y1, x2, y2 in pixels of the image given
      confidence  float32 [N]     scores in [0, 1]
      class_id    int64 [N]       the model's class ids
      class_name  list[str]       names (model metadata, family's COCO list, or names= file)
      source      str             the path, or the label given (default "image")
      width, height  int          the image size in pixels
      tiles       list[dict]      per tile: x, y, w, h, full_image, detections, batch_size,
                                  batch_id (equal ids ran in one batch), latency_ms
      timings     dict            milliseconds: load, preprocess, queue, inference, decode,
                                  merge, end_to_end
      execution   str             "CPU Batch Execution: ..." as the CLI prints it
      xywhr       float32 [N, 5] or None   oriented boxes (yolo_obb): centre cx, cy, sides w, h
                                  in pixels, angle in radians from the x axis towards +y
                                  (Ultralytics' Results.obb.xywhr); None for plain boxes
      xyxyxyxy    float32 [N, 4, 2] or None   the oriented boxes' corners in Ultralytics'
                                  xywhr2xyxyxyxy order (supervision keeps them as
                                  data["xyxyxyxy"]); xyxy is then their enclosing box
      mask        bool [N, H, W] or None   instance masks (yolo_seg) at full image size, as
                                  supervision's Detections.mask; built on first use from masks
      masks       list of (x, y, uint8 [h, w]) or None   each mask over its own extent, with
                                  (x, y) its top-left image pixel: what tiledet holds (a
                                  full-size mask costs N x H x W bytes on a large image)

    The field names are supervision's: sv.Detections(xyxy=d.xyxy, confidence=d.confidence,
    class_id=d.class_id). to_json() is the record `tiledet detect --jsonl` writes.
    """

    __slots__ = ("xyxy", "confidence", "class_id", "class_name", "source", "width", "height", "xywhr", "masks",
                 "_json", "_dict", "_mask")

    def __init__(self, xyxy, confidence, class_id, class_name, source="image", width=0, height=0, json=None,
                 xywhr=None, masks=None):
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(confidence, dtype=np.float32)
        self.class_id = np.asarray(class_id, dtype=np.int64)
        self.class_name = list(class_name)
        self.source = source
        self.width = int(width)
        self.height = int(height)
        self.xywhr = None if xywhr is None else np.asarray(xywhr, dtype=np.float32).reshape(-1, 5)
        self.masks = None if masks is None else list(masks)
        self._json = json
        self._dict = None
        self._mask = None

    @property
    def xyxyxyxy(self):
        """float32 [N, 4, 2]: the oriented boxes' corners (c + v1 + v2, c + v1 - v2, c - v1 - v2,
        c - v1 + v2 with v1 = w/2 (cos, sin), v2 = h/2 (-sin, cos)); None without oriented boxes."""
        if self.xywhr is None:
            return None
        cx, cy, w, h, a = (self.xywhr[:, i] for i in range(5))
        c, s = np.cos(a), np.sin(a)
        v1 = np.stack([w / 2 * c, w / 2 * s], axis=1)
        v2 = np.stack([-h / 2 * s, h / 2 * c], axis=1)
        ctr = np.stack([cx, cy], axis=1)
        return np.stack([ctr + v1 + v2, ctr + v1 - v2, ctr - v1 - v2, ctr - v1 + v2], axis=1).astype(np.float32)

    @property
    def mask(self):
        """bool [N, H, W]: each instance mask at full image size; None without masks."""
        if self.masks is None:
            return None
        if self._mask is None:
            full = np.zeros((len(self), self.height, self.width), dtype=bool)
            for i, m in enumerate(self.masks):
                if m is None:
                    continue
                x, y, part = m
                h, w = part.shape
                x0, y0 = max(x, 0), max(y, 0)  # the part inside the image
                x1, y1 = min(x + w, self.width), min(y + h, self.height)
                if x1 > x0 and y1 > y0:
                    full[i, y0:y1, x0:x1] = part[y0 - y:y1 - y, x0 - x:x1 - x] != 0
            self._mask = full
        return self._mask

    def __len__(self) -> int:
        return len(self.confidence)

    def __iter__(self):
        """(xyxy, confidence, class_id, class_name) per detection."""
        for i in range(len(self)):
            yield self.xyxy[i], float(self.confidence[i]), int(self.class_id[i]), self.class_name[i]

    def to_json(self) -> str:
        """The image's record as `tiledet detect --jsonl` writes it (one line)."""
        return self._json if self._json is not None else _json.dumps(self.to_dict())

    def to_dict(self) -> dict:
        """The --json record as a dict (file, width, height, detections, tiles, execution, timings_ms)."""
        if self._dict is None:
            if self._json is not None:
                self._dict = _json.loads(self._json)
            else:
                self._dict = {
                    "file": self.source, "width": self.width, "height": self.height,
                    "detections": [{"class_id": int(c), "class_name": n, "score": float(s), "box": [float(v) for v in b]}
                                   for b, s, c, n in self],
                }
        return self._dict

    @property
    def tiles(self) -> list:
        return self.to_dict().get("tiles", [])

    @property
    def timings(self) -> dict:
        return self.to_dict().get("timings_ms", {})

    @property
    def execution(self) -> str:
        return self.to_dict().get("execution", "")

    def __repr__(self) -> str:
        counts = {}
        for n in self.class_name:
            counts[n] = counts.get(n, 0) + 1
        what = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no detections"
        tiles = len(self.tiles)
        ms = self.timings.get("end_to_end")
        extra = f", {tiles} tile{'s' if tiles != 1 else ''}" + (f", {ms:.1f} ms" if ms is not None else "")
        return f"Detections({self.source} {self.width}x{self.height}: {what}{extra})"
