"""The descriptors server reflection serves, with the proto comments.

The generated ``*_pb2`` modules drop the comments of proto/, and a DescriptorPool cannot give
them back: grpcio-reflection answers with ``FileDescriptor.CopyToProto``, which leaves out
``source_code_info``. So the server serves the FileDescriptorSet that scripts/gen_protos.py
writes with source info (``descriptor_set.binpb``, next to the generated code) through
``SourcePool``: a DescriptorPool for lookups whose file descriptors copy to the stored protos,
comments included. ``grpcurl describe`` then shows the contract's documentation.
"""

from __future__ import annotations

import logging
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from qsession.v1 import transpiler_pb2

log = logging.getLogger("qsession.server")

DESCRIPTOR_SET = Path(transpiler_pb2.__file__).with_name("descriptor_set.binpb")


class _FileWithSource:
    """A FileDescriptor whose ``CopyToProto`` gives the stored proto (with source info)."""

    def __init__(self, descriptor: FileDescriptor, protos: dict[str, bytes]):
        self._descriptor = descriptor
        self._protos = protos

    @property
    def name(self) -> str:
        return self._descriptor.name

    @property
    def dependencies(self) -> list[_FileWithSource]:
        return [_FileWithSource(d, self._protos) for d in self._descriptor.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        stored = self._protos.get(self.name)
        if stored is None:
            self._descriptor.CopyToProto(proto)
        else:
            proto.ParseFromString(stored)


class SourcePool:
    """A DescriptorPool, as grpcio-reflection uses one, that serves files with their comments.

    Args:
        pool: the pool that answers lookups.
        protos: file name -> serialized FileDescriptorProto with source info.
    """

    def __init__(self, pool: descriptor_pool.DescriptorPool, protos: dict[str, bytes]):
        self._pool = pool
        self._protos = protos

    def FindFileByName(self, name: str) -> _FileWithSource:
        return _FileWithSource(self._pool.FindFileByName(name), self._protos)

    def FindFileContainingSymbol(self, symbol: str) -> _FileWithSource:
        return _FileWithSource(self._pool.FindFileContainingSymbol(symbol), self._protos)

    def __getattr__(self, name: str):  # FindMessageTypeByName, FindAllExtensions, ...
        return getattr(self._pool, name)


def reflection_pool() -> SourcePool | None:
    """The pool reflection serves: qsession.v1 and its imports from DESCRIPTOR_SET, plus health
    and reflection themselves. None (reflection then serves the generated descriptors, without
    comments) when the set is missing, e.g. in an install that left it out."""
    try:
        files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    except OSError as exc:
        log.warning("reflection serves descriptors without comments: %s", exc)
        return None
    pool = descriptor_pool.DescriptorPool()
    protos = {}
    for file in files:
        pool.Add(file)
        protos[file.name] = file.SerializeToString()
    for module in (health_pb2, reflection_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        pool.Add(file)
    return SourcePool(pool, protos)
