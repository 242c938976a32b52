"""`tiledet serve`'s inference.GRPCInferenceService through Debian's python3-grpcio. The client's
messages come from the server's own grpc_service.proto (protoc --python_out at test time), and
calls go through grpcio's generic unary calls with the service's method paths."""
import importlib
import json
import os
import struct
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest

from test_serve_cli import MODEL, NAME, Server, planted, png, scene

PROTO_DIR = os.path.join(os.environ["TILEDET_SOURCE_DIR"], "src", "serve")
SERVICE = "/inference.GRPCInferenceService/"

pytestmark = pytest.mark.skipif(os.environ.get("TILEDET_SERVE_GRPC") != "ON", reason="this build has no gRPC")


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("proto")
    subprocess.run([os.environ.get("PROTOC", "protoc"), "-I", PROTO_DIR, "--python_out", str(out),
                    os.path.join(PROTO_DIR, "grpc_service.proto")], check=True)
    sys.path.insert(0, str(out))
    return importlib.import_module("grpc_service_pb2")


@pytest.fixture(scope="module")
def server():
    s = Server("-m", MODEL, "--max-pending", "4")
    yield s
    assert s.stop() == 0, "".join(s.log)


@pytest.fixture(scope="module")
def stub(server, pb):
    channel = grpc.insecure_channel("127.0.0.1:%d" % server.grpc_port)

    def call(method, request, response_type):
        return channel.unary_unary(SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=response_type.FromString)(request, timeout=60)

    yield call
    channel.close()


def element(data):
    return struct.pack("<I", len(data)) + data


def outputs_of(response):
    types = {"FP32": np.float32, "INT64": np.int64}
    return {o.name: np.frombuffer(raw, types[o.datatype]).reshape(list(o.shape))
            for o, raw in zip(response.outputs, response.raw_output_contents)}


def test_server_live_ready_and_metadata(stub, pb):
    assert stub("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse).live
    assert stub("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready
    meta = stub("ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse)
    assert meta.name == "tiledet" and "binary_tensor_data" in meta.extensions


def test_model_metadata_and_ready(stub, pb):
    m = stub("ModelMetadata", pb.ModelMetadataRequest(name=NAME), pb.ModelMetadataResponse)
    assert [(t.name, t.datatype, list(t.shape)) for t in m.inputs] == [("image", "BYTES", [1])]
    assert [t.name for t in m.outputs] == ["boxes", "scores", "classes"]
    raw = stub("ModelMetadata", pb.ModelMetadataRequest(name=NAME + "_raw", version="1"), pb.ModelMetadataResponse)
    assert [(t.name, list(t.shape)) for t in raw.inputs] == [("images", [-1, 3, 320, 320])]
    assert stub("ModelReady", pb.ModelReadyRequest(name=NAME), pb.ModelReadyResponse).ready
    with pytest.raises(grpc.RpcError) as e:
        stub("ModelReady", pb.ModelReadyRequest(name="missing"), pb.ModelReadyResponse)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and NAME in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stub("ModelMetadata", pb.ModelMetadataRequest(name=NAME, version="9"), pb.ModelMetadataResponse)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def detect_request(pb, image, raw=True, **params):
    req = pb.ModelInferRequest(model_name=NAME, id="g1")
    t = req.inputs.add(name="image", datatype="BYTES", shape=[1])
    if raw:
        req.raw_input_contents.append(element(image))
    else:
        t.contents.bytes_contents.append(image)
    for k, v in params.items():
        if isinstance(v, float):
            req.parameters[k].double_param = v
        else:
            req.parameters[k].string_param = str(v)
    return req


def test_detection_in_raw_and_typed_contents(stub, pb):
    want = sorted(planted(), key=lambda p: p["box_xyxy_px"][0])
    for raw in (True, False):
        res = stub("ModelInfer", detect_request(pb, png(scene()), raw=raw), pb.ModelInferResponse)
        assert res.id == "g1" and res.model_name == NAME
        out = outputs_of(res)
        order = np.argsort(out["boxes"][:, 0])
        np.testing.assert_allclose(out["boxes"][order], [p["box_xyxy_px"] for p in want], atol=0.5)
        assert out["classes"][order].tolist() == [p["class_id"] for p in want]
        names = json.loads(res.parameters["class_names"].string_param)
        assert sorted(names) == ["apple", "banana", "cherry"]
    # A per-request parameter, as a double.
    res = stub("ModelInfer", detect_request(pb, png(scene(200)), conf=0.9), pb.ModelInferResponse)
    assert outputs_of(res)["boxes"].shape == (0, 4)


def test_raw_tensors_raw_and_typed_agree(stub, pb):
    x = np.random.RandomState(3).rand(2, 3, 320, 320).astype(np.float32)
    req = pb.ModelInferRequest(model_name=NAME + "_raw")
    req.inputs.add(name="images", datatype="FP32", shape=[2, 3, 320, 320])
    req.raw_input_contents.append(x.tobytes())
    both = outputs_of(stub("ModelInfer", req, pb.ModelInferResponse))["output0"]
    assert both.shape == (2, 7, 2100)
    req = pb.ModelInferRequest(model_name=NAME + "_raw")
    t = req.inputs.add(name="images", datatype="FP32", shape=[1, 3, 320, 320])
    t.contents.fp32_contents.extend(x[1].ravel().tolist())
    second = outputs_of(stub("ModelInfer", req, pb.ModelInferResponse))["output0"]
    np.testing.assert_allclose(second[0], both[1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(both[0], both[1])


def test_bad_requests_are_invalid_argument(stub, pb):
    cases = []
    cases.append(detect_request(pb, b"not an image at all"))
    cases.append(detect_request(pb, png(scene())[:300]))
    req = pb.ModelInferRequest(model_name=NAME + "_raw")
    req.inputs.add(name="images", datatype="FP32", shape=[1, 3, 10, 10])
    req.raw_input_contents.append(b"\0" * 1200)
    cases.append(req)
    req = pb.ModelInferRequest(model_name=NAME + "_raw")
    req.inputs.add(name="images", datatype="INT64", shape=[1])
    req.raw_input_contents.append(b"\0" * 8)
    cases.append(req)
    req = pb.ModelInferRequest(model_name=NAME)
    req.inputs.add(name="image", datatype="BYTES", shape=[1])
    req.raw_input_contents.append(b"\x10\0\0\0abc")  # element longer than its bytes
    cases.append(req)
    for req in cases:
        with pytest.raises(grpc.RpcError) as e:
            stub("ModelInfer", req, pb.ModelInferResponse)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert e.value.details()
    assert stub("ModelInfer", detect_request(pb, png(scene())), pb.ModelInferResponse).outputs


def test_in_flight_cap_is_unavailable(stub, pb):
    # 3200 x 3200 in tiles of 320: 100+ tiles per request, so 16 at once overrun --max-pending 4.
    big = np.zeros((3200, 3200, 3), np.uint8)
    req = detect_request(pb, png(big), tile="320")
    codes = []
    lock = threading.Lock()

    def one():
        try:
            stub("ModelInfer", req, pb.ModelInferResponse)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
            assert "--max-pending" in e.details()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    assert codes.count(grpc.StatusCode.OK) >= 1 and codes.count(grpc.StatusCode.UNAVAILABLE) >= 1, codes
