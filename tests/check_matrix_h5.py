"""Check a matrix HDF5 file independently with h5py and NumPy.

Usage: check_matrix_h5.py FILE.h5
Prints JSON: the root attributes, the stored digest, the SHA-256 of /result's little-endian bytes,
the number of inputs, and the largest |result - sum_k inputs[2k] @ inputs[2k+1]| relative to the
largest |result|.
"""
import hashlib
import json
import sys

import h5py
import numpy as np


def plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


with h5py.File(sys.argv[1], "r") as f:
    attrs = {k: plain(v) for k, v in f.attrs.items()}
    result = f["/result"][()]
    inputs = f["/inputs"]
    count = len(inputs)
    expected = np.zeros_like(result)
    for k in range(count // 2):
        expected += inputs[str(2 * k)][()] @ inputs[str(2 * k + 1)][()]
    scale = max(np.abs(result).max(), 1.0)
    print(json.dumps({
        "attrs": attrs,
        "digest_attr": attrs["digest"],
        "digest_of_result": hashlib.sha256(result.astype("<f8").tobytes()).hexdigest(),
        "inputs": count,
        "max_abs_error": float(np.abs(result - expected).max() / scale),
        "shape": list(result.shape),
    }))
