"""`tiledet serve` end to end on a generated model, through a REST client written with urllib
that speaks as Triton's HTTP client does (JSON tensors, and the binary-data extension with the
Inference-Header-Content-Length header). 127.0.0.1 and ports the system picks only."""
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest

CLI = os.environ["TILEDET_CLI"]
MODELS = os.environ["TILEDET_TEST_MODELS_DIR"]
MODEL = os.path.join(MODELS, "yolo_nc3_dynamic.onnx")
NAME = "yolo_nc3_dynamic"
GRPC = os.environ.get("TILEDET_SERVE_GRPC") == "ON"


def planted():
    manifest = json.load(open(os.path.join(MODELS, "manifest.json")))
    # Duplicates (a second, lower-scored box over an object) are for NMS to remove.
    return [p for p in next(e for e in manifest["models"] if e["name"] == NAME)["planted"] if p["duplicate_of"] is None]


def scene(value=255):
    """320x320 RGB with each planted object's score region lit: the model then reports the planted
    boxes, scored value / 255 (manifest.json)."""
    img = np.zeros((320, 320, 3), np.uint8)
    for p in planted():
        r = p["score_region"]
        img[r["y0"]:r["y1"], r["x0"]:r["x1"], r["channel"]] = value
    return img


def png(rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Server:
    def __init__(self, *args, env=None):
        e = dict(os.environ, TILEDET_AUTO_CONFIG="off")
        e.update(env or {})
        grpc = ["--grpc-port", "0" if GRPC else "-1"]
        self.proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--http-port", "0", "--metrics-port", "0",
                                      *grpc, *args], stderr=subprocess.PIPE, text=True, env=e)
        self.log = []
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if line.startswith("tiledet serve: HTTP on"):
                ports = dict(re.findall(r"(HTTP|gRPC|metrics) on 127\.0\.0\.1:(\d+)", line))
                self.port = int(ports["HTTP"])
                self.metrics_port = int(ports.get("metrics", 0))
                self.grpc_port = int(ports.get("gRPC", 0))
            if "tiledet serve: ready" in line:
                break
        else:
            raise AssertionError("server not ready: " + "".join(self.log))
        assert self.port, "".join(self.log)
        self.drain = threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True)
        self.drain.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def call(url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def binary_request(inputs, params=None, outputs=None, request_id=None):
    """Triton's binary-data extension: JSON header, then each input's bytes, the header's length
    in Inference-Header-Content-Length. inputs: [(name, datatype, shape, bytes)]."""
    header = {"inputs": [{"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(b)}}
                         for n, d, s, b in inputs]}
    if params:
        header["parameters"] = params
    if outputs:
        header["outputs"] = outputs
    if request_id:
        header["id"] = request_id
    h = json.dumps(header).encode()
    return h + b"".join(b for _, _, _, b in inputs), {"Inference-Header-Content-Length": str(len(h)),
                                                       "Content-Type": "application/octet-stream"}


def bytes_element(data):
    return struct.pack("<I", len(data)) + data


def decode_response(headers, body):
    """The JSON part and {output name: numpy array} from JSON data or the binary section."""
    n = headers.get("Inference-Header-Content-Length")
    j = json.loads(body[:int(n)] if n else body)
    at = int(n) if n else 0
    out = {}
    types = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64, "INT32": np.int32, "UINT8": np.uint8}
    for o in j["outputs"]:
        if "parameters" in o and "binary_data_size" in o["parameters"]:
            size = o["parameters"]["binary_data_size"]
            out[o["name"]] = np.frombuffer(body[at:at + size], types[o["datatype"]]).reshape(o["shape"])
            at += size
        else:
            out[o["name"]] = np.array(o["data"], types[o["datatype"]]).reshape(o["shape"])
    return j, out


def detect(server, image_png, params=None, request_id=None, model=NAME):
    body, headers = binary_request([("image", "BYTES", [1], bytes_element(image_png))], params, request_id=request_id)
    return call(server.url("/v2/models/%s/infer" % model), body, headers)


@pytest.fixture(scope="module")
def server():
    s = Server("-m", MODEL, "--max-request-mb", "4")
    yield s
    assert s.stop() == 0, "".join(s.log)


def test_health_and_server_metadata(server):
    assert call(server.url("/v2/health/live"))[0] == 200
    assert call(server.url("/v2/health/ready"))[0] == 200
    status, _, body = call(server.url("/v2"))
    meta = json.loads(body)
    assert status == 200 and meta["name"] == "tiledet" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_and_readiness(server):
    meta = json.loads(call(server.url("/v2/models/" + NAME))[2])
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [1]}]
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "classes"]
    raw = json.loads(call(server.url("/v2/models/%s_raw/versions/1" % NAME))[2])
    assert raw["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 320, 320]}]
    assert raw["outputs"] == [{"name": "output0", "datatype": "FP32", "shape": [-1, 7, 2100]}]
    assert call(server.url("/v2/models/%s/ready" % NAME))[0] == 200
    assert call(server.url("/v2/models/%s_raw/versions/1/ready" % NAME))[0] == 200
    status, _, body = call(server.url("/v2/models/missing/ready"))
    assert status == 404 and NAME in json.loads(body)["error"]


def test_detection_returns_the_planted_boxes_and_class_names(server):
    status, headers, body = detect(server, png(scene()), request_id="planted-1")
    assert status == 200, body
    j, out = decode_response(headers, body)
    assert j["id"] == "planted-1" and j["model_name"] == NAME
    order = np.argsort(out["boxes"][:, 0])
    want = sorted(planted(), key=lambda p: p["box_xyxy_px"][0])
    assert out["boxes"].shape == (len(want), 4) and out["boxes"].dtype == np.float32
    np.testing.assert_allclose(out["boxes"][order], [p["box_xyxy_px"] for p in want], atol=0.5)
    assert out["classes"].dtype == np.int64
    assert out["classes"][order].tolist() == [p["class_id"] for p in want]
    np.testing.assert_allclose(out["scores"], 1.0, atol=1e-3)
    names = json.loads(j["parameters"]["class_names"])
    assert [names[i] for i in order] == [["apple", "banana", "cherry"][p["class_id"]] for p in want]


def test_detection_equals_tiledet_detect(server, tmp_path):
    img = scene(200)
    path = tmp_path / "scene.png"
    path.write_bytes(png(img))
    cli = subprocess.run([CLI, "detect", "-m", MODEL, "--json", "-", str(path)], capture_output=True, text=True,
                         env=dict(os.environ, TILEDET_AUTO_CONFIG="off"), check=True)
    want = json.loads(cli.stdout)["images"][0]["detections"]
    status, headers, body = detect(server, png(img))
    assert status == 200, body
    _, out = decode_response(headers, body)
    assert len(want) == len(out["boxes"]) > 0
    for d, box, score, cls in zip(want, out["boxes"], out["scores"], out["classes"]):
        np.testing.assert_allclose(box, d["box"], atol=1e-3)
        assert abs(score - d["score"]) < 1e-5 and cls == d["class_id"]


def test_raw_tensors_in_json_and_binary_agree_and_batch(server):
    rng = np.random.RandomState(7)
    x = rng.rand(3, 3, 320, 320).round(3)  # short in JSON; the same float32 values either way
    # Item 0 as JSON tensors, all three as one binary request of batch 3.
    status, headers, body = call(server.url("/v2/models/%s_raw/infer" % NAME),
                                 json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 3, 320, 320],
                                                         "data": x[0].ravel().tolist()}]}).encode(),
                                 {"Content-Type": "application/json"})
    assert status == 200, body
    _, one = decode_response(headers, body)
    body, hdrs = binary_request([("images", "FP32", [3, 3, 320, 320], x.astype(np.float32).tobytes())],
                                outputs=[{"name": "output0", "parameters": {"binary_data": True}}])
    status, headers, body = call(server.url("/v2/models/%s_raw/infer" % NAME), body, hdrs)
    assert status == 200, body[:300]
    assert "Inference-Header-Content-Length" in headers
    _, three = decode_response(headers, body)
    assert three["output0"].shape == (3, 7, 2100)
    np.testing.assert_allclose(three["output0"][0], one["output0"][0], rtol=1e-5, atol=1e-5)
    # Items differ, so a mixed-up order would show.
    assert not np.allclose(three["output0"][0], three["output0"][1])


def test_bad_requests_get_one_clear_error(server):
    url = server.url("/v2/models/%s/infer" % NAME)
    status, _, body = call(url, b"\x00garbage", {"Content-Type": "application/json"})
    assert status == 400 and "not a JSON object" in json.loads(body)["error"]
    status, _, body = detect(server, png(scene())[:200])  # truncated PNG
    assert status == 400 and "input 'image'" in json.loads(body)["error"]
    status, _, body = call(server.url("/v2/models/%s_raw/infer" % NAME),
                           json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 3, 2, 2],
                                                   "data": [0.0] * 12}]}).encode())
    assert status == 400 and "[1, 3, 2, 2]" in json.loads(body)["error"]
    status, _, body = call(server.url("/v2/models/%s_raw/infer" % NAME),
                           json.dumps({"inputs": [{"name": "images", "datatype": "INT64", "shape": [1],
                                                   "data": [1]}]}).encode())
    assert status == 400 and "INT64" in json.loads(body)["error"]
    status, _, body = call(url, b"x" * (5 << 20))  # over --max-request-mb 4
    assert status == 413 and "--max-request-mb" in json.loads(body)["error"]
    status, _, body = call(server.url("/v2/models/nope/infer"), b"{}")
    assert status == 404
    assert detect(server, png(scene()))[0] == 200


def metric(text, name, model):
    m = re.search(r'^%s\{model="%s",version="1"\} (\d+)$' % (name, model), text, re.M)
    return int(m.group(1)) if m else None


def test_metrics_count_requests_on_both_ports(server):
    def scrape(port):
        return call("http://127.0.0.1:%d/metrics" % port)[2].decode()

    before = scrape(server.metrics_port)
    for _ in range(3):
        assert detect(server, png(scene()))[0] == 200
    call(server.url("/v2/models/%s/infer" % NAME), b"nonsense")
    after = scrape(server.metrics_port)
    assert metric(after, "nv_inference_request_success", NAME) - metric(before, "nv_inference_request_success", NAME) == 3
    fail = r'nv_inference_request_failure\{model="%s",version="1",reason="OTHER"\} (\d+)' % NAME
    assert int(re.search(fail, after).group(1)) - int(re.search(fail, before).group(1)) == 1
    assert metric(after, "nv_inference_exec_count", NAME) - metric(before, "nv_inference_exec_count", NAME) == 3
    assert metric(after, "nv_inference_count", NAME) - metric(before, "nv_inference_count", NAME) == 3
    assert metric(after, "nv_inference_request_duration_us", NAME) > metric(before, "nv_inference_request_duration_us", NAME)
    assert "nv_inference_request_success" in scrape(server.port)  # /metrics on the HTTP port as well


def test_model_repository_with_versions_and_config(tmp_path):
    (tmp_path / "fruit" / "3").mkdir(parents=True)
    os.symlink(MODEL, tmp_path / "fruit" / "3" / "model.onnx")
    (tmp_path / "fruit" / "config.json").write_text(json.dumps({"options": {"conf": 0.9}}))
    s = Server("--model-repository", str(tmp_path))
    try:
        meta = json.loads(call(s.url("/v2/models/fruit/versions/3"))[2])
        assert meta["versions"] == ["3"]
        # Lit at 200/255 = 0.78: below the repository's conf 0.9; at 255: above it.
        _, out = decode_response(*detect(s, png(scene(200)), model="fruit")[1:])
        assert len(out["boxes"]) == 0
        _, out = decode_response(*detect(s, png(scene(255)), model="fruit")[1:])
        assert len(out["boxes"]) == 3
        # A per-request parameter overrides it.
        _, out = decode_response(*detect(s, png(scene(200)), params={"conf": 0.5}, model="fruit")[1:])
        assert len(out["boxes"]) == 3
    finally:
        assert s.stop() == 0


def test_sigterm_under_load_drains_and_exits_zero():
    s = Server("-m", MODEL, "--max-delay-ms", "5")
    image = png(scene())
    outcomes = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        k = 0
        while not stop.is_set():
            k += 1
            rid = "%d-%d" % (i, k)
            try:
                status, headers, body = detect(s, image, request_id=rid, params={"tile": "160", "overlap": 0})
                ok = status == 200 and decode_response(headers, body)[0]["id"] == rid
                result = "ok" if ok else "bad %d %s" % (status, body[:200])
                if status == 503 and b"shutting down" in body:
                    result = "refused"
            except (urllib.error.URLError, ConnectionError) as e:
                # Not accepted: the listener was closed (refused) before this connection was made.
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(2)
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join()
    log = "".join(s.log)
    assert rc == 0, log
    assert "drained" in log
    ok = outcomes.count("ok")
    assert ok >= 4, outcomes[-20:]
    bad = [o for o in outcomes if o not in ("ok", "refused")]
    assert not bad, bad[:5]


@pytest.mark.parametrize("flag,value,expected", [
    ("--http-threads", "100000000", "--http-threads: expected a thread count from 1 to 1024, got 100000000"),
    ("--http-threads", "0", "--http-threads: expected a thread count from 1 to 1024, got 0"),
    ("--max-request-mb", "1e30", "--max-request-mb: expected a size in MB above 0 and at most 4096, got 1e+30"),
    ("--max-request-mb", "nan", "--max-request-mb: expected a size in MB above 0 and at most 4096, got nan"),
    ("--request-timeout-ms", "-5", "--request-timeout-ms: expected milliseconds from 0 to 3600000 (0: none), got -5"),
    ("--http-port", "99999", "--http-port: expected a port from 0 to 65535 (0: any free port), got 99999"),
    ("--read-timeout-s", "0", "--read-timeout-s: expected whole seconds from 1 to 3600, got 0"),
    ("--max-pending", "-1", "--max-pending: expected a request count from 0 to 1000000 (0: no cap), got -1"),
])
def test_server_flags_out_of_range_are_refused_before_it_starts(flag, value, expected):
    # Once accepted: 10^8 HTTP threads aborted the server after "ready", 1e30 MB overflowed to a
    # 0-byte body limit, port 99999 printed itself but listened on another port.
    args = {"--http-port": "0", "--metrics-port": "-1", "--grpc-port": "-1", flag: value}
    r = subprocess.run([CLI, "serve", "-m", MODEL, *[x for kv in args.items() for x in kv]],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "tiledet: " + expected, r.stderr


def test_a_bad_config_json_option_is_one_line_naming_the_file_before_the_server_listens(tmp_path):
    # It once printed "HTTP on ..." first, then "--conf: ..." naming neither the file nor the key.
    folder = tmp_path / "repo" / "m"
    folder.mkdir(parents=True)
    os.symlink(MODEL, folder / "model.onnx")
    (folder / "config.json").write_text(json.dumps({"options": {"conf": "x"}}))
    r = subprocess.run([CLI, "serve", "--model-repository", str(tmp_path / "repo"), "--http-port", "0",
                        "--metrics-port", "-1", "--grpc-port", "-1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "HTTP on" not in r.stderr, r.stderr
    assert r.stderr.strip() == ("tiledet: " + str(folder / "config.json") +
                                ": \"options\": \"conf\": expected a confidence in [0, 1], got 'x'"), r.stderr
