"""Server addresses and job ids: --target specs ("a:50051,b:50051",
"all:NAME:50051") and the sharded job id "TARGET/JOB_ID,TARGET/JOB_ID,..."
that any client (rrmctl too) reopens a sharded job from."""

import socket
from typing import List, NamedTuple, Sequence, Tuple

from . import errors


class Target(NamedTuple):
    """A server of a --target value: the address connected to, and for "all:"
    entries HOST, the name its TLS certificate carries ("" otherwise)."""

    address: str
    tls_name: str


def _invalid(details: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(details)


def _split_host_port(address: str) -> "Tuple[str, str] | None":
    """"host:port" or "[v6]:port" -> (host, port); None without a port."""
    colon = address.rfind(":")
    if colon <= 0 or colon + 1 == len(address):
        return None
    host = address[:colon]
    host = host[1:] if host.startswith("[") else host
    host = host[:-1] if host.endswith("]") else host
    return host, address[colon + 1:]


def _resolve_all(entry: str) -> List[Target]:
    split = _split_host_port(entry)
    if split is None:
        raise _invalid('target: expected all:HOST:PORT, found "all:%s"' % entry)
    host, port = split
    try:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise errors.NotFound("target all:%s: cannot resolve %s: %s" % (entry, host, error)) from None
    addresses = set()  # sorted and unique: the same order on every call
    for family, _, _, _, sockaddr in found:
        try:
            text = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        except OSError:
            continue
        addresses.add("[%s]:%s" % (text, port) if family == socket.AF_INET6 else "%s:%s" % (text, port))
    if not addresses:
        raise errors.NotFound("target all:%s: no address found" % entry)
    return [Target(address, host) for address in sorted(addresses)]


def expand_targets(spec: str) -> List[Target]:
    """The servers named by a --target value, as a list of Target: comma-separated
    HOST:PORT entries; an entry "all:HOST:PORT" stands for every address HOST
    resolves to (e.g. a Kubernetes headless Service), resolved now.
    InvalidArgument for an empty entry or one without a port, NotFound for a
    name that does not resolve."""
    targets: List[Target] = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            raise _invalid('target: expected HOST:PORT entries, found an empty one in "%s"' % spec)
        if entry.startswith("all:"):
            targets.extend(_resolve_all(entry[len("all:"):]))
        else:
            targets.append(Target(entry, ""))
    return targets


def names_several(spec: str) -> bool:
    """Whether a --target value may name several servers (a list, or any "all:" entry)."""
    entries = [e.strip() for e in spec.split(",")]
    return len(entries) > 1 or entries[0].startswith("all:")


def is_sharded_id(job_id: str) -> bool:
    """Whether `job_id` names a sharded job ("TARGET/JOB_ID,...") rather than a job of one server."""
    return "/" in job_id


def sharded_id(parts: Sequence[Tuple[str, str]]) -> str:
    """[(target, job_id), ...] -> "TARGET/JOB_ID,..."."""
    return ",".join("%s/%s" % part for part in parts)


def parse_sharded_id(job_id: str) -> List[Tuple[str, str]]:
    """"TARGET/JOB_ID,..." -> [(target, job_id), ...]; InvalidArgument when malformed."""
    parts = []
    for entry in job_id.split(","):
        slash = entry.rfind("/")
        if slash <= 0 or slash + 1 == len(entry):
            raise _invalid("job: expected TARGET/JOB_ID entries joined by ',', found \"%s\" in \"%s\""
                           % (entry, job_id))
        parts.append((entry[:slash], entry[slash + 1:]))
    return parts
