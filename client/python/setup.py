"""rrmdyn's build: the metadata is in pyproject.toml; this file only makes
`pip install client/python` (re)generate the gRPC stubs rrmdyn/_proto from
../../proto with Debian's protoc before setuptools looks at the package, so
the installed package ships stubs that match the proto it was built from
(generate_stubs.py). Without proto/ (an sdist), the stubs already in
rrmdyn/_proto/ are shipped as they are."""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_stubs  # noqa: E402

if os.path.exists(os.path.join(generate_stubs.proto_dir(), generate_stubs.PROTOS[0])):
    generate_stubs.generate()
elif not os.path.exists(os.path.join(generate_stubs.DEFAULT_OUT, "dynamics_pb2.py")):
    raise RuntimeError("rrmdyn: neither proto/ (%s) nor generated stubs (%s) found"
                       % (generate_stubs.proto_dir(), generate_stubs.DEFAULT_OUT))

setup()
