"""Dump an HDF5 file as JSON with h5py: an independent check of what spmdkit wrote.

Usage: h5_to_json.py FILE.h5
Prints {"attrs": {name: value}, "datasets": {"/path": {"dtype": str, "shape": [...], "data": [...]}}}.
"""
import json
import sys

import h5py
import numpy as np


def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main(path):
    out = {"attrs": {}, "datasets": {}}
    with h5py.File(path, "r") as f:
        for name, value in f.attrs.items():
            out["attrs"][name] = plain(value)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                out["datasets"]["/" + name] = {
                    "dtype": str(obj.dtype),
                    "shape": list(obj.shape),
                    "data": plain(data),
                }

        f.visititems(visit)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
