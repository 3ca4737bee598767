#!/usr/bin/env python3
"""Convert the legacy (pre-1.6, non-zip) PyTorch checkpoint of EfficientNet-Lite0
into model.safetensors, keeping the original tensor names. Standard library only,
so no torch is needed.

    python3 scripts/convert_efficientnet.py MODEL_DIR

Legacy format (torch/serialization.py, _legacy_load): pickle(magic number),
pickle(protocol version), pickle(sys info), pickle(the state dict, whose tensors
reference storages via persistent ids), pickle(list of storage keys), then for
each key in that order: an 8-byte little-endian element count and the raw bytes.
"""
import json
import os
import pickle
import struct
import sys
from collections import OrderedDict

MAGIC = 0x1950A86A20F9469CFC6C

# storage class name -> (safetensors dtype, bytes per element)
STORAGE_TYPES = {
    "FloatStorage": ("F32", 4),
    "DoubleStorage": ("F64", 8),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
}


class StorageType:
    def __init__(self, name):
        if name not in STORAGE_TYPES:
            raise ValueError(f"unsupported storage type torch.{name}")
        self.name = name


class Storage:
    def __init__(self, key, stype, numel):
        self.key = key
        self.dtype, self.itemsize = STORAGE_TYPES[stype.name]
        self.numel = numel
        self.data = None


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *args):
    return Tensor(storage, offset, size, stride)


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if pid[0] != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid[0]!r}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = Storage(key, stype, numel)
        return self.storages[key]


def contiguous_bytes(t):
    """Bytes of tensor t in row-major order, honouring offset and strides."""
    item = t.storage.itemsize
    numel = 1
    for d in t.size:
        numel *= d
    expected = []
    acc = 1
    for d in reversed(t.size):
        expected.append(acc)
        acc *= d
    expected.reverse()
    data = t.storage.data
    if numel == 0:
        return b""
    if all(s == e or d == 1 for s, e, d in zip(t.stride, expected, t.size)):
        start = t.offset * item
        return data[start:start + numel * item]
    # General strided copy (rare for state dicts).
    out = bytearray(numel * item)
    idx = [0] * len(t.size)
    for n in range(numel):
        src = t.offset + sum(i * s for i, s in zip(idx, t.stride))
        out[n * item:(n + 1) * item] = data[src * item:(src + 1) * item]
        for ax in range(len(idx) - 1, -1, -1):
            idx[ax] += 1
            if idx[ax] < t.size[ax]:
                break
            idx[ax] = 0
    return bytes(out)


def load_legacy(path):
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise ValueError(f"{path}: is a zip-format checkpoint, not the legacy format")
        f.seek(0)
        magic = pickle.load(f)
        if magic != MAGIC:
            raise ValueError(f"{path}: bad magic number {magic!r}; not a legacy PyTorch checkpoint")
        protocol = pickle.load(f)
        if protocol != 1001:
            raise ValueError(f"{path}: unsupported protocol version {protocol}")
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        storages = {}
        obj = Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            st = storages[key]
            nbytes = numel * st.itemsize
            st.data = f.read(nbytes)
            if len(st.data) != nbytes:
                raise ValueError(f"{path}: truncated storage {key}")
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return obj


def write_safetensors(tensors, path):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            continue
        blob = contiguous_bytes(t)
        header[name] = {
            "dtype": t.storage.dtype,
            "shape": list(t.size),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return len(header)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: convert_efficientnet.py MODEL_DIR")
    d = sys.argv[1]
    src = os.path.join(d, "efficientnet-lite0-57934424.pth")
    if not os.path.exists(src):
        sys.exit(f"convert_efficientnet: {src} not found")
    state = load_legacy(src)
    n = write_safetensors(state, os.path.join(d, "model.safetensors"))
    print(f"convert_efficientnet: wrote {n} tensors to {os.path.join(d, 'model.safetensors')}")


if __name__ == "__main__":
    main()
