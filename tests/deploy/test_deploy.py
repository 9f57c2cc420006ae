"""The deployment files (deploy/, docker-compose*.yml) against each other and against
the real rrmd from $RRM_BUILD_DIR (default build/):

- the Grafana dashboard's PromQL parses (promtool) and names only series a live rrmd
  exports once it has run a job, with label names those series carry, through the
  datasource uid that Grafana is provisioned with;
- the Kubernetes manifests agree with themselves (flags, container ports, probes,
  Prometheus annotations, the headless Service, mounts, GPUs) and rrmd started with
  the manifest's own flags answers health on the probe port and /metrics on the
  annotated port and path;
- docker-compose.yml with each override, deploy/Dockerfile and the Prometheus config
  agree the same way, and rrmd started with the image's ENTRYPOINT plus the compose
  command answers too.

Nothing here needs Docker or a GPU: flags are run locally with paths moved under a
temporary folder, listen addresses on free loopback ports and CUDA devices as CPU
workers. Every assertion names the file, the field, the expected and the found value.
"""

import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("RRM_BUILD_DIR", "build")
if not os.path.isabs(BUILD_DIR):
    BUILD_DIR = os.path.join(ROOT, BUILD_DIR)
RRMD = os.path.join(BUILD_DIR, "bin", "rrmd")
RRMCTL = os.path.join(BUILD_DIR, "bin", "rrmctl")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "trm_mlpt")

DOCKERFILE = "deploy/Dockerfile"
COMPOSE = "docker-compose.yml"
COMPOSE_VARIANTS = {"gpu": "docker-compose.gpu.yml", "cpu": "docker-compose.cpu.yml"}
PROMETHEUS = "deploy/prometheus/prometheus.yml"
DASHBOARD = "deploy/grafana/dashboards/rrmd.json"
DATASOURCES = "deploy/grafana/provisioning/datasources"
DASHBOARD_PROVIDERS = "deploy/grafana/provisioning/dashboards"
K8S = "deploy/k8s"

# Series the dashboard must chart (the README's metrics table; a histogram through
# its _bucket series).
DASHBOARD_MUST_SHOW = [
    "rrm_examples_completed_total", "rrm_queue_depth", "rrm_device_busy_ratio",
    "rrm_device_memory_bytes", "rrm_device_weight_bytes", "rrm_work_items_cut_total",
    "rrm_example_compute_seconds_bucket", "rrm_jobs",
    "rrm_rpcs_total", "rrm_examples_failed_total", "rrm_device_in_rotation",
]
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}


def path(rel):
    return os.path.join(ROOT, rel)


def read(rel):
    with open(path(rel)) as f:
        return f.read()


def require(binary):
    if not os.path.exists(binary):
        pytest.fail("%s is not built (set RRM_BUILD_DIR or run scripts/build.sh)" % binary)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- flags

def flag(argv, name):
    """The value of --name=V or --name V in argv (the last one, as absl takes it)."""
    value = None
    for i, arg in enumerate(argv):
        if arg.startswith("--%s=" % name):
            value = arg.split("=", 1)[1]
        elif arg == "--" + name and i + 1 < len(argv):
            value = argv[i + 1]
    return value


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def listen_ports(argv, where):
    """(gRPC port, metrics port) of rrmd's --listen / --metrics_listen in argv."""
    listen, metrics = flag(argv, "listen"), flag(argv, "metrics_listen")
    assert listen, "%s: rrmd's flags: expected --listen=HOST:PORT, found %s" % (where, argv)
    assert metrics, "%s: rrmd's flags: expected --metrics_listen=HOST:PORT, found %s" % (where, argv)
    for name, value in (("--listen", listen), ("--metrics_listen", metrics)):
        assert not value.startswith(("127.", "localhost", "[::1]")), (
            "%s: %s: expected a non-loopback address (0.0.0.0:PORT) in a container, found %s"
            % (where, name, value))
    return port_of(listen), port_of(metrics)


def cuda_devices(argv):
    devices = flag(argv, "devices") or ""
    return [d for d in devices.split(",") if d.startswith("cuda")]


# ------------------------------------------------------------------------ Dockerfile

def dockerfile():
    """{'entrypoint': [...], 'expose': {ports}, 'healthcheck': [...]} of deploy/Dockerfile
    (the last ENTRYPOINT / HEALTHCHECK / EXPOSE: the final stage's)."""
    text = read(DOCKERFILE)
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = {"entrypoint": None, "expose": set(), "healthcheck": None}
    for line in joined.splitlines():
        words = line.strip().split(None, 1)
        if not words:
            continue
        keyword, rest = words[0].upper(), (words[1] if len(words) > 1 else "")
        if keyword == "ENTRYPOINT":
            out["entrypoint"] = json.loads(rest)
        elif keyword == "EXPOSE":
            out["expose"] = {int(p.split("/")[0]) for p in rest.split()}
        elif keyword == "HEALTHCHECK":
            command = rest.split("CMD", 1)[1].strip()
            out["healthcheck"] = json.loads(command) if command.startswith("[") else shlex.split(command)
    assert out["entrypoint"], "%s: ENTRYPOINT: expected an exec-form rrmd command, found none" % DOCKERFILE
    return out


# ----------------------------------------------------------------------- live rrmd

class Rrmd:
    """rrmd started with a given argv (argv[0] is replaced by the built binary)."""

    def __init__(self, argv, log_path):
        require(RRMD)
        self.argv = [RRMD] + list(argv[1:])
        self.log_path = str(log_path)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_serving(self, port, where="", timeout=120):
        """rrmctl health on 127.0.0.1:port until SERVING; the last answer. `where`
        (the file the flags come from) prefixes a failure."""
        require(RRMCTL)
        deadline = time.monotonic() + timeout
        while True:
            answer = rrmctl(port, "health")
            if answer.returncode == 0:
                return answer
            if self.process.poll() is not None:
                pytest.fail("%srrmd %s: expected to serve, found it exited with %s:\n%s"
                            % (where, " ".join(self.argv), self.process.returncode, self.log()))
            if time.monotonic() > deadline:
                pytest.fail("%srrmd %s: expected SERVING on port %d within %ds, found rrmctl: %s %s\n%s"
                            % (where, " ".join(self.argv), port, timeout, answer.stdout, answer.stderr, self.log()))
            time.sleep(0.2)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rrmctl(port, *args, timeout=300):
    return subprocess.run([RRMCTL, "--target=127.0.0.1:%d" % port] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def http_get(port, url_path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, url_path), timeout=10) as response:
        return response.status, response.read().decode()


def localize(argv, root):
    """argv as it would run here: absolute paths moved under `root` (folders made,
    a tokens file written), listen hosts on 127.0.0.1 with free ports, devices as CPU
    workers, --model preloads dropped (they name real checkpoints). Returns
    (argv, {port in the file: local port})."""
    local, ports = [argv[0]], {}
    for arg in argv[1:]:
        match = re.match(r"--([A-Za-z_]+)=(.*)$", arg)
        assert match, "%s: expected --flag=value, found %r" % (argv, arg)
        name, value = match.groups()
        if name == "model":
            continue
        if name in ("listen", "metrics_listen"):
            port = port_of(value)
            ports.setdefault(port, free_port())
            value = "127.0.0.1:%d" % ports[port]
        elif name == "devices":
            value = ",".join("cpu" for _ in value.split(","))
        elif value.startswith("/"):
            moved = os.path.join(str(root), value.lstrip("/"))
            if name == "auth_tokens":
                os.makedirs(os.path.dirname(moved), exist_ok=True)
                with open(moved, "w") as f:
                    f.write("deploy-test:deploy-test-token\n")
            else:
                os.makedirs(moved, exist_ok=True)
            value = moved
        local.append("--%s=%s" % (name, value))
    return local, ports


def check_runs(where, argv, probe_port, metrics_port, metrics_path, tmp_path):
    """rrmd with `argv` (localized) answers health on probe_port and metrics on
    metrics_port + metrics_path (ports as the file names them)."""
    local, ports = localize(argv, tmp_path / "root")
    for role, port in (("health probe", probe_port), ("metrics", metrics_port)):
        assert port in ports, ("%s: %s port: expected one of the ports rrmd listens on %s, found %d"
                               % (where, role, sorted(ports), port))
    server = Rrmd(local, tmp_path / "rrmd.log")
    try:
        answer = server.wait_serving(ports[probe_port], where + ": ")
        assert answer.stdout.strip() == "SERVING", (
            "%s: rrmctl health on the probe port %d: expected SERVING, found %r"
            % (where, probe_port, answer.stdout))
        status, body = http_get(ports[metrics_port], metrics_path)
        assert status == 200 and re.search(r"^rrm_", body, re.M), (
            "%s: GET :%d%s: expected 200 with rrm_ series, found %d:\n%s"
            % (where, metrics_port, metrics_path, status, body[:500]))
    finally:
        server.stop()


# ---------------------------------------------------------------- metrics scrape

def parse_exposition(text):
    """{series name: set of label names} of a Prometheus text exposition."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s", line)
        if match:
            labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=\"", match.group(2) or ""))
            series.setdefault(match.group(1), set()).update(labels)
    return series


@pytest.fixture(scope="module")
def live_series(tmp_path_factory):
    """The series of a real rrmd (two CPU workers, the fixture model) after one tiny
    job: per-model, per-device and histogram series exist only once used."""
    require(RRMD)
    require(RRMCTL)
    tmp = tmp_path_factory.mktemp("deploy-live")
    port, metrics_port = free_port(), free_port()
    server = Rrmd([RRMD, "--listen=127.0.0.1:%d" % port, "--metrics_listen=127.0.0.1:%d" % metrics_port,
                   "--devices=cpu,cpu", "--data_dir=%s" % (tmp / "data"),
                   "--model=trm=" + os.path.join(FIXTURE, "step_0")], tmp / "rrmd.log")
    try:
        server.wait_serving(port)
        job = rrmctl(port, "submit", "--model=trm", "--data=" + os.path.join(FIXTURE, "data"),
                     "--segments=1", "--limit=1", "--wait", "--progress=none")
        assert job.returncode == 0, "rrmctl submit --wait: expected exit 0, found %d: %s\n%s" % (
            job.returncode, job.stderr, server.log())
        status, body = http_get(metrics_port, "/metrics")
        assert status == 200, "GET /metrics: expected 200, found %d" % status
        yield parse_exposition(body)
    finally:
        server.stop()


# ---------------------------------------------------------------------- dashboard

def dashboard_queries(dashboard):
    """[(where, expr)] of every panel target (rows' panels included) and template query."""
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append(("panel %r target %s" % (panel.get("title"), target.get("refId")),
                                target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if variable.get("type") == "query" and query:
            out.append(("template variable %r" % variable.get("name"), query))
    return out


def as_promql(expr):
    """Grafana's macros and variables replaced so that promtool can parse the query."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    return re.sub(r"\$\{?[A-Za-z_]\w*\}?", "x", expr)


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def promtool_check(queries, tmp_path):
    """promtool check rules on all queries at once; {index: error} of the bad ones."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool: expected on PATH (Debian package prometheus, in scripts/packages.txt), found none"
    errors = {}
    for i, (_, expr) in enumerate(queries):
        if expr.startswith("label_values("):
            continue  # Grafana's own function, not PromQL
        rules = tmp_path / ("q%d.yml" % i)
        rules.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [
            {"record": "dashboard:query%d" % i, "expr": as_promql(expr)}]}]}))
        result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
        if result.returncode != 0:
            errors[i] = (result.stdout + result.stderr).strip()
    return errors


def provisioned_datasources():
    out = []
    for file in sorted(glob.glob(path(DATASOURCES) + "/*.y*ml")):
        for ds in (yaml.safe_load(open(file)) or {}).get("datasources", []):
            out.append((os.path.relpath(file, ROOT), ds))
    return out


def test_dashboard_queries_parse_and_name_live_series(live_series, tmp_path):
    dashboard = json.loads(read(DASHBOARD))
    queries = dashboard_queries(dashboard)
    assert queries, "%s: panels[].targets[].expr: expected PromQL queries, found none" % DASHBOARD

    errors = promtool_check(queries, tmp_path)
    assert not errors, "%s: PromQL that promtool cannot parse:\n%s" % (DASHBOARD, "\n".join(
        "  %s: %r: %s" % (queries[i][0], queries[i][1], e) for i, e in errors.items()))

    shown = set()
    for where, expr in queries:
        plain = strip_strings(expr)
        names = set(re.findall(r"\b(rrm_[A-Za-z0-9_]+)\b", plain))
        assert names, "%s: %s: expected a query over rrm_ series, found %r" % (DASHBOARD, where, expr)
        shown |= names
        for name in sorted(names):
            assert name in live_series, (
                "%s: %s: series %s: expected in rrmd's /metrics after a job, found only %s"
                % (DASHBOARD, where, name, sorted(n for n in live_series if n.startswith("rrm_"))))
        known = set(TARGET_LABELS)
        for name in names:
            known |= live_series[name]
        # Label names in selectors {l="v"} and in by (...) / without (...) clauses.
        used = set()
        for selector in re.findall(r"rrm_[A-Za-z0-9_]+\s*\{([^}]*)\}", expr):
            used |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", selector))
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", plain):
            used |= {l.strip() for l in clause.split(",") if l.strip()}
        for label in sorted(used - known):
            pytest.fail("%s: %s: label %r: expected one of the labels of %s %s, found it on none"
                        % (DASHBOARD, where, label, sorted(names), sorted(known)))
    missing = [n for n in DASHBOARD_MUST_SHOW if n not in shown]
    assert not missing, "%s: panels: expected charts of %s, found none for %s" % (
        DASHBOARD, DASHBOARD_MUST_SHOW, missing)


def test_dashboard_uses_the_provisioned_datasource():
    dashboard = json.loads(read(DASHBOARD))
    prometheus = [(f, ds) for f, ds in provisioned_datasources() if ds.get("type") == "prometheus"]
    assert len(prometheus) == 1, "%s: datasources of type prometheus: expected 1, found %s" % (
        DATASOURCES, prometheus)
    file, datasource = prometheus[0]
    uid = datasource.get("uid")
    assert uid, "%s: datasources[].uid: expected a fixed uid for the dashboard, found none" % file

    def check(node, where):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            assert ds.get("uid") == uid, "%s: %s datasource.uid: expected %r (from %s), found %r" % (
                DASHBOARD, where, uid, file, ds.get("uid"))
        elif ds is not None:
            pytest.fail("%s: %s datasource: expected {type, uid: %r}, found %r" % (DASHBOARD, where, uid, ds))

    def walk(panels):
        for panel in panels:
            check(panel, "panel %r" % panel.get("title"))
            for target in panel.get("targets", []):
                check(target, "panel %r target %s" % (panel.get("title"), target.get("refId")))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        check(variable, "template variable %r" % variable.get("name"))


# ----------------------------------------------------------------------- Kubernetes

def k8s_documents():
    docs = []
    for file in sorted(glob.glob(path(K8S) + "/**/*.y*ml", recursive=True)):
        for doc in yaml.safe_load_all(open(file)):
            if doc:
                docs.append((os.path.relpath(file, ROOT), doc))
    assert docs, "%s: expected Kubernetes manifests, found none" % K8S
    return docs


def one(docs, kind, name):
    found = [(f, d) for f, d in docs if d.get("kind") == kind and d["metadata"].get("name") == name]
    assert len(found) == 1, "%s: expected one %s %r, found %d" % (K8S, kind, name, len(found))
    return found[0]


def resolve_port(port, container_ports, where):
    """A probe / targetPort given as a number or a containerPort name, as a number."""
    if isinstance(port, int):
        return port
    assert port in container_ports, "%s: expected a containerPort name in %s, found %r" % (
        where, sorted(container_ports), port)
    return container_ports[port]


def statefulset():
    docs = k8s_documents()
    file, sts = one(docs, "StatefulSet", "rrmd")
    pod = sts["spec"]["template"]
    containers = [c for c in pod["spec"]["containers"] if c["name"] == "rrmd"]
    assert len(containers) == 1, "%s: spec.template.spec.containers: expected one named rrmd, found %d" % (
        file, len(containers))
    container = containers[0]
    # command replaces the image's ENTRYPOINT; args alone are appended to it.
    if container.get("command"):
        argv = list(container["command"]) + list(container.get("args", []))
    else:
        argv = dockerfile()["entrypoint"] + list(container.get("args", []))
    return docs, file, sts, pod, container, argv


def test_k8s_manifests_agree_with_themselves():
    docs, file, sts, pod, container, argv = statefulset()
    where = "%s: StatefulSet rrmd container rrmd" % file
    grpc_port, metrics_port = listen_ports(argv, where + " args")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for name, expected, flag_name in (("grpc", grpc_port, "--listen"), ("metrics", metrics_port, "--metrics_listen")):
        assert ports.get(name) == expected, "%s: ports[name=%s].containerPort: expected %d (the port of %s), found %s" % (
            where, name, expected, flag_name, ports.get(name))

    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if probe is None:
            assert probe_name == "startupProbe", "%s: %s: expected a gRPC probe, found none" % (where, probe_name)
            continue
        assert "grpc" in probe, "%s: %s: expected grpc: {port: %d}, found %s" % (where, probe_name, grpc_port, probe)
        found = resolve_port(probe["grpc"]["port"], ports, "%s: %s.grpc.port" % (where, probe_name))
        assert found == grpc_port, "%s: %s.grpc.port: expected %d (containerPort grpc), found %s" % (
            where, probe_name, grpc_port, found)

    annotations = pod["metadata"].get("annotations", {})
    for key, expected in (("prometheus.io/scrape", "true"), ("prometheus.io/port", str(metrics_port)),
                          ("prometheus.io/path", "/metrics")):
        assert annotations.get(key) == expected, "%s: spec.template.metadata.annotations[%s]: expected %r, found %r" % (
            file, key, expected, annotations.get(key))

    service_name = sts["spec"].get("serviceName")
    service_file, service = one(docs, "Service", service_name)
    assert service["spec"].get("clusterIP") == "None", "%s: Service %s spec.clusterIP: expected None (headless), found %r" % (
        service_file, service_name, service["spec"].get("clusterIP"))
    selector, labels = service["spec"].get("selector", {}), pod["metadata"].get("labels", {})
    assert selector and all(labels.get(k) == v for k, v in selector.items()), (
        "%s: Service %s spec.selector: expected to match the pod labels %s, found %s"
        % (service_file, service_name, labels, selector))
    service_ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
    for name, expected in (("grpc", grpc_port), ("metrics", metrics_port)):
        sp = service_ports.get(name)
        assert sp, "%s: Service %s spec.ports: expected one named %s, found %s" % (
            service_file, service_name, name, sorted(service_ports))
        target = resolve_port(sp.get("targetPort", sp["port"]), ports,
                              "%s: Service %s ports[%s].targetPort" % (service_file, service_name, name))
        assert target == expected and sp["port"] == expected, (
            "%s: Service %s ports[%s]: expected port and targetPort %d (containerPort %s), found port %s targetPort %s"
            % (service_file, service_name, name, expected, name, sp["port"], target))

    gpus = int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
    assert gpus == len(cuda_devices(argv)), "%s: resources.limits[nvidia.com/gpu]: expected %d (the cuda devices of --devices=%s), found %d" % (
        where, len(cuda_devices(argv)), flag(argv, "devices"), gpus)
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    assert grace >= 60, "%s: spec.template.spec.terminationGracePeriodSeconds: expected >= 60 (workers finish their item), found %s" % (
        file, grace)

    # Every path flag lies on a mount of the right kind.
    mounts = container.get("volumeMounts", [])
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    claim_templates = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}

    def mount_of(flag_name):
        value = flag(argv, flag_name)
        assert value, "%s args: expected --%s, found none" % (where, flag_name)
        found = [m for m in mounts if value == m["mountPath"] or value.startswith(m["mountPath"].rstrip("/") + "/")]
        assert found, "%s: volumeMounts: expected one holding --%s=%s, found mountPaths %s" % (
            where, flag_name, value, [m["mountPath"] for m in mounts])
        return found[0]

    jobs = mount_of("data_dir")
    assert jobs["name"] in claim_templates, "%s: volumeMounts[%s] (--data_dir): expected a volumeClaimTemplate %s, found none" % (
        where, jobs["name"], sorted(claim_templates))
    for flag_name in ("model_root", "data_root"):
        mount = mount_of(flag_name)
        assert mount.get("readOnly") is True, "%s: volumeMounts[%s] (--%s): expected readOnly: true, found %s" % (
            where, mount["name"], flag_name, mount.get("readOnly"))
        claim = volumes.get(mount["name"], {}).get("persistentVolumeClaim")
        assert claim and claim.get("claimName"), "%s: volumes[%s] (--%s): expected a persistentVolumeClaim, found %s" % (
            file, mount["name"], flag_name, volumes.get(mount["name"]))
    tokens = mount_of("auth_tokens")
    secret = volumes.get(tokens["name"], {}).get("secret")
    assert secret, "%s: volumes[%s] (--auth_tokens): expected a Secret volume, found %s" % (
        file, tokens["name"], volumes.get(tokens["name"]))
    assert tokens.get("subPath") and flag(argv, "auth_tokens") == tokens["mountPath"], (
        "%s: volumeMounts[%s]: expected mountPath %s with a subPath (the secret's key), found %s"
        % (where, tokens["name"], flag(argv, "auth_tokens"), tokens))
    example_file, example = one(docs, "Secret", secret["secretName"])
    keys = set(example.get("stringData", {})) | set(example.get("data", {}))
    assert tokens["subPath"] in keys, "%s: Secret %s: expected the key %r that %s mounts, found %s" % (
        example_file, secret["secretName"], tokens["subPath"], file, sorted(keys))


def test_k8s_flags_serve_health_and_metrics_on_the_probe_and_annotated_ports(tmp_path):
    docs, file, sts, pod, container, argv = statefulset()
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    probe = resolve_port(container["readinessProbe"]["grpc"]["port"], ports, file + ": readinessProbe")
    annotations = pod["metadata"]["annotations"]
    check_runs("%s: StatefulSet rrmd (flags %s)" % (file, argv[1:]), argv, probe,
               int(annotations["prometheus.io/port"]), annotations["prometheus.io/path"], tmp_path)


# ------------------------------------------------------------------ docker-compose

def compose_config(variant):
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose: expected on PATH (Debian package docker-compose, in scripts/packages.txt), found none"
    files = [COMPOSE, COMPOSE_VARIANTS[variant]]
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE_FILE"}
    args = [binary]
    for f in files:
        args += ["-f", f]
    result = subprocess.run(args + ["config"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, "%s: docker-compose config: expected exit 0, found %d: %s" % (
        " + ".join(files), result.returncode, result.stderr)
    return " + ".join(files), yaml.safe_load(result.stdout)


def compose_ports(service):
    """[(published, target)] of a service's ports in `docker-compose config` output."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((int(port.get("published", 0)), int(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            out.append((int(parts[-2]), int(parts[-1])))
    return out


def seconds(duration):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    assert match and any(match.groups()), "expected a duration like 5m or 90s, found %r" % duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


@pytest.mark.parametrize("variant", sorted(COMPOSE_VARIANTS))
def test_compose_agrees_with_the_image_and_prometheus(variant):
    where, config = compose_config(variant)
    image = dockerfile()
    services = config["services"]
    assert "rrmd" in services, "%s: services: expected rrmd, found %s" % (where, sorted(services))
    rrmd = services["rrmd"]
    argv = list(rrmd.get("entrypoint") or image["entrypoint"]) + list(rrmd.get("command") or [])
    grpc_port, metrics_port = listen_ports(argv, "%s: rrmd (ENTRYPOINT of %s + command)" % (where, DOCKERFILE))

    # The image says the same.
    assert image["expose"] == {grpc_port, metrics_port}, "%s: EXPOSE: expected %s (--listen, --metrics_listen), found %s" % (
        DOCKERFILE, sorted({grpc_port, metrics_port}), sorted(image["expose"]))
    health = image["healthcheck"]
    assert health and "health" in health, "%s: HEALTHCHECK: expected CMD rrmctl --target=... health, found %s" % (
        DOCKERFILE, health)
    target = flag(health, "target")
    assert target and port_of(target) == grpc_port, "%s: HEALTHCHECK rrmctl --target: expected port %d (--listen), found %s" % (
        DOCKERFILE, grpc_port, target)

    published = dict((t, p) for p, t in compose_ports(rrmd))
    for role, port in (("gRPC (--listen)", grpc_port), ("metrics (--metrics_listen)", metrics_port)):
        assert published.get(port) == port, "%s: services.rrmd.ports: expected %d:%d for %s, found %s" % (
            where, port, port, role, rrmd.get("ports"))

    # Prometheus scrapes the service's metrics port, with the config mounted where the image reads it.
    scrape = yaml.safe_load(read(PROMETHEUS))
    targets = [t for job in scrape.get("scrape_configs", []) for sc in job.get("static_configs", [])
               for t in sc.get("targets", [])]
    assert "rrmd:%d" % metrics_port in targets, "%s: scrape_configs[].static_configs[].targets: expected rrmd:%d (service rrmd of %s, --metrics_listen), found %s" % (
        PROMETHEUS, metrics_port, where, targets)
    prometheus = services.get("prometheus", {})
    assert any(v.startswith(path(PROMETHEUS) + ":/etc/prometheus/prometheus.yml") for v in prometheus.get("volumes", [])), (
        "%s: services.prometheus.volumes: expected %s:/etc/prometheus/prometheus.yml, found %s"
        % (where, PROMETHEUS, prometheus.get("volumes")))

    # Grafana: the provisioned datasource is this Prometheus; the dashboards folder is mounted where the provider reads.
    grafana = services.get("grafana", {})
    for file, ds in provisioned_datasources():
        expected = "http://prometheus:9090"
        assert ds.get("url") == expected, "%s: datasources[%s].url: expected %s (service prometheus of %s), found %s" % (
            file, ds.get("name"), expected, where, ds.get("url"))
    for file in sorted(glob.glob(path(DASHBOARD_PROVIDERS) + "/*.y*ml")):
        for provider in yaml.safe_load(open(file)).get("providers", []):
            folder = provider["options"]["path"]
            expected = "%s:%s:ro" % (path(os.path.dirname(DASHBOARD)), folder)
            assert expected in grafana.get("volumes", []), "%s: services.grafana.volumes: expected %s (%s providers[%s].options.path), found %s" % (
                where, expected, os.path.relpath(file, ROOT), provider.get("name"), grafana.get("volumes"))

    # Mounts behind the path flags.
    volumes = rrmd.get("volumes", [])

    def mount(target):
        found = [v for v in volumes if v.split(":")[1] == target]
        assert found, "%s: services.rrmd.volumes: expected one mounted at %s, found %s" % (where, target, volumes)
        return found[0]

    for flag_name in ("model_root", "data_root"):
        spec = mount(flag(argv, flag_name))
        assert spec.endswith(":ro"), "%s: services.rrmd.volumes %s (--%s): expected read-only (:ro), found %s" % (
            where, flag(argv, flag_name), flag_name, spec)
    jobs = mount(flag(argv, "data_dir"))
    assert jobs.split(":")[0] in config.get("volumes", {}), "%s: services.rrmd.volumes %s (--data_dir): expected a named volume, found %s" % (
        where, flag(argv, "data_dir"), jobs)
    secrets = [s["source"] if isinstance(s, dict) else s for s in rrmd.get("secrets", [])]
    expected = flag(argv, "auth_tokens")
    assert any("/run/secrets/" + s == expected for s in secrets), "%s: services.rrmd.secrets: expected one at %s (--auth_tokens), found %s" % (
        where, expected, secrets)
    for s in secrets:
        secret_file = config.get("secrets", {}).get(s, {}).get("file")
        assert secret_file and os.path.exists(secret_file), "%s: secrets.%s.file: expected an existing file, found %s" % (
            where, s, secret_file)

    assert seconds(rrmd.get("stop_grace_period", "10s")) >= 60, "%s: services.rrmd.stop_grace_period: expected >= 60s, found %s" % (
        where, rrmd.get("stop_grace_period"))

    # The backend.
    backend = rrmd.get("build", {}).get("args", {}).get("BACKEND")
    devices = ((rrmd.get("deploy") or {}).get("resources") or {}).get("reservations", {}).get("devices", [])
    gpus = sum(int(d.get("count", 0)) for d in devices if "gpu" in d.get("capabilities", []))
    if variant == "gpu":
        assert backend == "cuda", "%s: services.rrmd.build.args.BACKEND: expected cuda, found %s" % (where, backend)
        assert cuda_devices(argv) and gpus == len(cuda_devices(argv)), (
            "%s: deploy.resources.reservations.devices[gpu].count: expected %d (the cuda devices of --devices=%s), found %d"
            % (where, len(cuda_devices(argv)), flag(argv, "devices"), gpus))
    else:
        assert backend == "cpu", "%s: services.rrmd.build.args.BACKEND: expected cpu, found %s" % (where, backend)
        assert not cuda_devices(argv) and gpus == 0, (
            "%s: services.rrmd: expected --devices without cuda and no GPU reservation, found --devices=%s, %d GPUs"
            % (where, flag(argv, "devices"), gpus))


def test_compose_flags_serve_health_and_metrics_on_the_published_ports(tmp_path):
    where, config = compose_config("cpu")
    rrmd = config["services"]["rrmd"]
    argv = list(rrmd.get("entrypoint") or dockerfile()["entrypoint"]) + list(rrmd.get("command") or [])
    grpc_port, metrics_port = listen_ports(argv, where)
    health = flag(dockerfile()["healthcheck"], "target")
    scrape = yaml.safe_load(read(PROMETHEUS))["scrape_configs"][0]
    check_runs("%s: rrmd (ENTRYPOINT of %s + command %s)" % (where, DOCKERFILE, rrmd.get("command")), argv,
               port_of(health), port_of(scrape["static_configs"][0]["targets"][0]),
               scrape.get("metrics_path", "/metrics"), tmp_path)
