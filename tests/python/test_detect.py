"""tiledet.Pipeline.detect / detect_many / submit against the command line's JSON."""
import concurrent.futures
import inspect as pyinspect
import threading

import numpy as np
import pytest

import tiledet
from conftest import cli_jsonl, comparable, model, scene, shared, write_bmp


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    d = tmp_path_factory.mktemp("scenes")
    arrays = [scene(i, 480 + 16 * i, 640 + 32 * i) for i in range(4)]
    return arrays, [write_bmp(d / f"scene{i}.bmp", a) for i, a in enumerate(arrays)]


@pytest.mark.parametrize("name,flags", [
    ("yolo_dynamic", {}),
    ("yolo_dynamic", {"tile": 320, "overlap": 0.25}),
    ("official_rtdetr_dynamic", {"tile": (400, 300), "full_image": True}),
    ("yolox_dynamic", {"tile": "auto"}),
    ("hf_rtdetr_static", {"tile": 320, "merge": "nms", "match": "iou"}),
])
def test_results_equal_the_cli_json_on_generated_models(scenes, name, flags):
    _, files = scenes
    cli_flags = []
    for k, v in flags.items():
        if v is True:
            cli_flags.append("--" + k.replace("_", "-"))
        else:
            cli_flags += ["--" + k.replace("_", "-"), "x".join(map(str, v)) if isinstance(v, tuple) else str(v)]
    want = [comparable(r) for r in cli_jsonl(model(name), files, *cli_flags)]
    with tiledet.Pipeline(model(name), **flags) as p:
        many = p.detect_many(files)
        one = [p.detect(f) for f in files]
    assert [comparable(d.to_dict()) for d in many] == want
    assert [comparable(d.to_dict()) for d in one] == want
    assert sum(len(r["detections"]) for r in want) > 0, "the comparison must cover detections"
    for d, r in zip(many, want):
        assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (len(r["detections"]), 4)
        assert d.confidence.dtype == np.float32 and d.class_id.dtype == np.int64
        assert d.xyxy.tolist() == [x["box"] for x in r["detections"]]
        assert d.confidence.tolist() == [x["score"] for x in r["detections"]]
        assert d.class_id.tolist() == [x["class_id"] for x in r["detections"]]
        assert d.class_name == [x["class_name"] for x in r["detections"]]
        assert len(d.tiles) == len(r["tiles"]) and set(d.timings) >= {"preprocess", "inference", "end_to_end"}


def test_results_equal_the_cli_json_on_real_yolov8n_tiled():
    m = shared("models/yolov8n_int8.onnx")
    files = [shared("images/bus.jpg"), shared("images/zidane.jpg")]
    want = [comparable(r) for r in cli_jsonl(m, files, "--tile", "320", "--overlap", "0.2", "--full-image")]
    with tiledet.Pipeline(m, tile=320, overlap=0.2, full_image=True) as p:
        got = [comparable(d.to_dict()) for d in p.detect_many(files)]
        arrays = [comparable(p.detect(tiledet.load_image(f), label=f).to_dict()) for f in files]
    assert got == want
    assert arrays == want  # the decoded array gives what the file gives
    assert "person" in [x["class_name"] for x in got[0]["detections"]]


def test_array_input_is_read_in_place_without_a_copy(scenes):
    arrays, files = scenes
    a = arrays[0]
    assert tiledet._tiledet._pixels_address(a) == a.ctypes.data
    assert tiledet._tiledet._pixels_address(a, rgb=True) != a.ctypes.data  # RGB is converted into a new buffer
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        from_array = p.detect(a, label=files[0])
        from_file = p.detect(files[0])
    assert comparable(from_array.to_dict()) == comparable(from_file.to_dict())


def test_rgb_true_reads_rgb_and_the_default_reads_bgr(scenes):
    arrays, _ = scenes
    bgr = arrays[1]
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        want = p.detect(bgr)
        as_rgb = p.detect(rgb, rgb=True)
        misread = p.detect(rgb)  # RGB pixels read as BGR: the planted scores change
    assert len(want) > 0
    assert as_rgb.xyxy.tolist() == want.xyxy.tolist() and as_rgb.confidence.tolist() == want.confidence.tolist()
    assert misread.confidence.tolist() != want.confidence.tolist()


@pytest.mark.parametrize("bad,kind,words", [
    (np.zeros((64, 64, 3), np.float32), ValueError, "expected dtype uint8, got float32"),
    (np.zeros((64, 64, 3), np.uint16), ValueError, "expected dtype uint8, got uint16"),
    (np.zeros((64, 64), np.uint8), ValueError, "expected shape [H, W, 3]"),
    (np.zeros((64, 64, 4), np.uint8), ValueError, "got [64, 64, 4]; drop alpha"),
    (np.zeros((3, 64, 64), np.uint8), ValueError, "got [3, 64, 64]"),
    (np.zeros((64, 128, 3), np.uint8)[:, ::2], ValueError, "expected a C-contiguous array"),
    (np.asfortranarray(np.zeros((64, 64, 3), np.uint8)), ValueError, "np.ascontiguousarray"),
    (np.zeros((0, 64, 3), np.uint8), ValueError, "empty array"),
    ([[1, 2, 3]], TypeError, "expected a numpy array [H, W, 3] uint8, a path or encoded image bytes, got list"),
])
def test_bad_arrays_give_clear_errors(bad, kind, words):
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        for call in (p.detect, p.submit, lambda x: p.detect_many([x])):
            with pytest.raises(kind) as e:
                call(bad)
            assert words in str(e.value)


def test_sixteen_threads_share_batches_and_each_gets_its_own_result(scenes):
    images = [scene(100 + i, 320, 320) for i in range(16)]
    with tiledet.Pipeline(model("yolo_dynamic"), batch=16, max_delay_ms=200) as p:
        alone = [p.detect(a) for a in images]
        results = [None] * 16
        start = threading.Barrier(16)

        def work(i):
            start.wait()
            results[i] = p.detect(images[i], label=f"thread {i}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, r in enumerate(results):
        assert r.source == f"thread {i}"
        assert r.confidence.tolist() == alone[i].confidence.tolist() and r.xyxy.tolist() == alone[i].xyxy.tolist()
    assert len({tuple(a.confidence.tolist()) for a in alone}) == 16, "images must differ for the check to mean something"
    batch_ids = [t["batch_id"] for r in results for t in r.tiles]
    sizes = [t["batch_size"] for r in results for t in r.tiles]
    assert len(set(batch_ids)) < 16 and max(sizes) > 1, f"threads did not share batches: {batch_ids}"


def test_submit_returns_a_future_of_the_same_result(scenes):
    arrays, files = scenes
    with tiledet.Pipeline(model("yolo_dynamic"), tile=320) as p:
        futures = [p.submit(f) for f in files] + [p.submit(arrays[0], label="array")]
        assert all(isinstance(f, concurrent.futures.Future) for f in futures)
        got = [f.result(timeout=60) for f in futures]
        want = [p.detect(f) for f in files]
    assert [comparable(d.to_dict()) for d in got[:-1]] == [comparable(d.to_dict()) for d in want]
    assert got[-1].source == "array" and got[-1].xyxy.tolist() == want[0].xyxy.tolist()


def test_detect_many_return_exceptions_puts_each_error_in_its_place(scenes, tmp_path):
    _, files = scenes
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        out = p.detect_many([files[0], str(broken), files[1]], return_exceptions=True)
        with pytest.raises(tiledet.InputError):
            p.detect_many([files[0], str(broken)])
    assert isinstance(out[0], tiledet.Detections) and isinstance(out[2], tiledet.Detections)
    assert isinstance(out[1], tiledet.InputError) and "broken.jpg" in str(out[1])


def test_supervision_field_names_and_repr(scenes):
    arrays, _ = scenes
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        d = p.detect(arrays[0])
        assert p.family == "yolo" and p.input_size == (640, 640) and p.class_names[0] == "person"
    for field in ("xyxy", "confidence", "class_id", "class_name"):
        assert hasattr(d, field)
    assert len(d) == len(d.confidence) and "Detections(image 640x480" in repr(d)


def test_closing_with_futures_in_flight_ends_each_one_and_cancel_drops_an_image():
    images = [scene(200 + i, 480, 640) for i in range(12)]
    p = tiledet.Pipeline(model("yolo_heavy_dynamic"), tile=320, batch=1)  # ~10 GFLOPs a tile, one at a time
    futures = [p.submit(a) for a in images]
    assert futures[-1].cancel() and futures[-1].cancelled()
    p.close()  # cancels what is still queued, waits for the rest
    outcomes = []
    for f in futures[:-1]:
        assert f.done()
        e = f.exception(timeout=0)
        assert e is None or isinstance(e, tiledet.Cancelled), e
        outcomes.append(e is None)
    assert not all(outcomes), "closing right after submitting should have cancelled some queued images"
    with pytest.raises(tiledet.ShutDown, match="closed"):
        p.submit(images[0])


def test_config_is_measured_once_then_cached_and_manual_measures_nothing(tmp_path, monkeypatch):
    import tiledet

    # CTest runs these with TILEDET_AUTO_CONFIG=off (fixed settings); the default is on.
    assert tiledet.Pipeline(model("yolo_static")).config["source"] == "manual"
    monkeypatch.setenv("TILEDET_AUTO_CONFIG", "on")
    monkeypatch.setenv("TILEDET_CACHE_DIR", str(tmp_path))
    # CTest runs other tests beside this one: their load must not keep the answer out of the cache.
    with tiledet.Pipeline(model("yolo_static"), auto_max_other_load=1) as p:
        first = p.config
    assert first["source"] == "measured", first
    assert first["measure_ms"] > 0 and first["instances"] >= 1
    assert first["other_load"] is None or 0 <= first["other_load"] <= 1, first
    assert list((tmp_path / "auto").iterdir()), "the choice is cached"
    with tiledet.Pipeline(model("yolo_static")) as p:
        second = p.config
    assert second["source"] == "cached"
    assert (second["instances"], second["threads_per_instance"]) == (first["instances"], first["threads_per_instance"])
    with tiledet.Pipeline(model("yolo_static"), config="manual", instances=2) as p:
        assert p.config["source"] == "manual" and p.config["instances"] == 2
    with tiledet.Pipeline(model("yolo_static"), instances=1, threads=1, batch=1) as p:
        assert p.config["source"] == "manual", "all three given: nothing to choose"


def _coco_rle_decode(rle):
    """COCO's compressed RLE string (pycocotools' rleFrString: 5 bits a character from '0',
    0x20 continues, 0x10 the sign, counts after the second are deltas from two before) to a
    bool [h, w] mask (column-major runs, zeros first)."""
    h, w = rle["size"]
    s, counts, p = rle["counts"], [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for n in counts:
        flat[pos:pos + n] = val
        pos += n
        val = not val
    return flat.reshape((w, h)).T


def test_oriented_boxes_and_masks_equal_the_cli_json(scenes):
    _, files = scenes
    want = cli_jsonl(model("yolo_obb_dynamic"), files, "--tile", "320", "--overlap", "0.25")
    with tiledet.Pipeline(model("yolo_obb_dynamic"), tile=320, overlap=0.25) as p:
        got = p.detect_many(files)
    assert sum(len(r["detections"]) for r in want) > 0
    for d, r in zip(got, want):
        assert d.mask is None and d.masks is None
        assert d.xywhr is not None and d.xywhr.dtype == np.float32 and d.xywhr.shape == (len(d), 5)
        assert np.allclose(d.xywhr, np.array([x["xywhr"] for x in r["detections"]], np.float32), atol=1e-4)
        assert d.xyxyxyxy.shape == (len(d), 4, 2)
        assert np.allclose(d.xyxyxyxy, np.array([x["xyxyxyxy"] for x in r["detections"]], np.float32), atol=1e-2)

    want = cli_jsonl(model("yolo_seg_dynamic"), files, "--tile", "320", "--overlap", "0.25", "--masks", "rle")
    with tiledet.Pipeline(model("yolo_seg_dynamic"), tile=320, overlap=0.25) as p:
        got = p.detect_many(files)
    assert sum(len(r["detections"]) for r in want) > 0
    for d, r in zip(got, want):
        assert d.xywhr is None and d.xyxyxyxy is None
        assert d.mask.dtype == bool and d.mask.shape == (len(d), d.height, d.width)
        assert len(d.masks) == len(d)
        for i, x in enumerate(r["detections"]):
            expected = _coco_rle_decode(x["segmentation"])
            assert expected.any(), "the comparison must cover mask pixels"
            assert np.array_equal(d.mask[i], expected), f"{d.source} detection {i}"
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        plain = p.detect(files[0])
    assert plain.xywhr is None and plain.mask is None and plain.masks is None
