"""rrmd's transport as gRPC tools meet it: TLS with the configured
certificate (plaintext refused) and server reflection listing the services."""
import subprocess
import time

import grpc
import pytest

from conftest import MODEL_FLAG, RRMD, Rrmd
from rrmdyn._stubs import health_pb2, health_pb2_grpc


def self_signed_certificate(folder):
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def health_status(channel):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_tls_serves_with_the_given_certificate_and_refuses_plaintext(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    server = Rrmd(tmp_path / "data", [MODEL_FLAG, "--tls_cert=" + cert, "--tls_key=" + key])
    server.starts += 1
    with open(server.log_path, "w") as log:
        server.process = subprocess.Popen(
            [RRMD, "--listen=" + server.target,
             "--metrics_listen=127.0.0.1:%d" % server.metrics_port, "--devices=cpu,cpu",
             "--data_dir=" + server.data_dir] + server.flags, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "listening on" not in server.log():
            assert server.process.poll() is None, server.log()
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        credentials = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
        with grpc.secure_channel(server.target, credentials) as channel:
            while True:
                try:
                    if health_status(channel) == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.1)
        with grpc.insecure_channel(server.target) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                health_status(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_server_reflection_lists_the_services(rrmd):
    # grpc.reflection.v1alpha.ServerReflectionRequest{list_services: "*"}
    # (field 7, length-delimited), encoded by hand: Debian ships no
    # reflection stubs for Python, and the bytes are the whole contract here.
    request = b"\x3a\x01*"
    with grpc.insecure_channel(rrmd.target) as channel:
        call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
        answer = b"".join(call(iter([request]), timeout=30))
    assert b"rrm.v1.Dynamics" in answer
    assert b"grpc.health.v1.Health" in answer
