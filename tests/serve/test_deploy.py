"""deploy/: the KServe YAML parses into the resources it claims, its probes are the v2 health
endpoints, and the container's command (the Dockerfile's ENTRYPOINT + CMD, and the
ServingRuntime's args) starts a server here that becomes ready and drains on SIGTERM. Paths and
ports of the container are mapped to this machine's (the built CLI, a temporary model folder,
free ports); nothing else is changed."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import yaml

SRC = os.environ["TILEDET_SOURCE_DIR"]
CLI = os.environ["TILEDET_CLI"]
MODEL = os.path.join(os.environ["TILEDET_TEST_MODELS_DIR"], "yolo_nc3_dynamic.onnx")
GRPC = os.environ.get("TILEDET_SERVE_GRPC") == "ON"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dockerfile_command():
    text = open(os.path.join(SRC, "deploy", "Dockerfile")).read()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    return entry + cmd


def run_until_ready(argv, port):
    env = dict(os.environ, TILEDET_AUTO_CONFIG="off")
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    status = None
    while time.time() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v2/health/ready" % port, timeout=2) as r:
                status = r.status
                break
        except Exception:
            time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    return status, rc, proc.stderr.read()


def localise(argv, ports, paths):
    out = []
    for a in argv:
        a = ports.get(a, a)
        for old, new in paths.items():
            a = a.replace(old, new)
        out.append(a)
    return out + ["--host", "127.0.0.1"]


def test_kserve_yaml_parses_with_v2_probes():
    docs = list(yaml.safe_load_all(open(os.path.join(SRC, "deploy", "kserve.yaml"))))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ServingRuntime", "InferenceService"}
    runtime = kinds["ServingRuntime"]
    protocols = set(runtime["spec"]["protocolVersions"])
    assert "v2" in protocols
    container = runtime["spec"]["containers"][0]
    # KServe sends gRPC only to a container port named h2c, REST to one named http1 (Knative: one
    # port per container), so a runtime claims grpc-v2 only with an h2c port.
    port_names = {p.get("name") for p in container["ports"]}
    assert ("grpc-v2" in protocols) == ("h2c" in port_names), (protocols, port_names)
    assert "http1" in port_names
    # Batching does not hang on a startup measurement.
    assert container["args"][container["args"].index("--batch") + 1] == "8"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    port = container["ports"][0]["containerPort"]
    assert container["readinessProbe"]["httpGet"]["port"] == port
    assert container["args"][container["args"].index("--http-port") + 1] == str(port)
    predictor = kinds["InferenceService"]["spec"]["predictor"]
    assert predictor["model"]["runtime"] == runtime["metadata"]["name"]
    assert predictor["scaleMetric"] == "concurrency"


def test_dockerfile_command_serves_a_model_repository(tmp_path):
    (tmp_path / "detector").mkdir()
    shutil.copy(MODEL, tmp_path / "detector" / "model.onnx")
    http = free_port()
    ports = {"8000": str(http), "8001": str(free_port()) if GRPC else "-1", "8002": str(free_port())}
    argv = localise(dockerfile_command(), ports, {"/src/build/bin/tiledet": CLI, "/models": str(tmp_path)})
    assert argv[0] == CLI, argv
    status, rc, log = run_until_ready(argv, http)
    assert status == 200 and rc == 0, log
    assert "model detector" in log and "drained" in log


def test_serving_runtime_args_serve_the_model_under_its_name(tmp_path):
    shutil.copy(MODEL, tmp_path / "model.onnx")
    docs = list(yaml.safe_load_all(open(os.path.join(SRC, "deploy", "kserve.yaml"))))
    args = next(d for d in docs if d["kind"] == "ServingRuntime")["spec"]["containers"][0]["args"]
    http = free_port()
    ports = {"8080": str(http), "8081": str(free_port()) if GRPC else "-1", "8082": str(free_port())}
    argv = localise([CLI] + args, ports, {"/mnt/models": str(tmp_path), "{{.Name}}": "detector"})
    status, rc, log = run_until_ready(argv, http)
    assert status == 200 and rc == 0, log
    assert "served as 'detector'" in log
