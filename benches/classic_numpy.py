"""The classic matrix job written as a plain sequential NumPy script, for comparison with spmdkit.

Four 1000 x 1000 standard-normal matrices, the two pairwise products, their sum. Prints one JSON
object: the time inside the program (generation to sum) and the result's sum and Frobenius norm.
NumPy's BLAS (OpenBLAS on Debian when libopenblas is installed) does the products.
"""
import json
import time

import numpy as np

COUNT, SIZE, SEED = 4, 1000, 1

start = time.perf_counter()
rng = np.random.default_rng(SEED)
matrices = [rng.standard_normal((SIZE, SIZE)) for _ in range(COUNT)]
products = [matrices[2 * k] @ matrices[2 * k + 1] for k in range(COUNT // 2)]
total = products[0]
for p in products[1:]:
    total = total + p
elapsed = time.perf_counter() - start
print(json.dumps({
    "in_program_s": elapsed,
    "sum": float(total.sum()),
    "frobenius": float(np.linalg.norm(total)),
}))
