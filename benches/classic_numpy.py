"""The classic matrix job written as a plain sequential NumPy script, for comparison with spmdkit.

Four 1000 x 1000 standard-normal matrices, the two pairwise products, their sum: the matrices and
products of benches/classic_tools.py, one after the other in this process. Prints one JSON object:
the time inside the program (generation to sum) and the result's sum and Frobenius norm. NumPy's
BLAS (OpenBLAS on Debian when libopenblas is installed) does the products.
"""
import json
import time

import numpy  # noqa: F401  (loaded before the clock starts, as in the original script)

from classic_tools import COUNT, check_matrix, make_matrix, multiply

start = time.perf_counter()
total = sum(multiply(make_matrix(2 * k), make_matrix(2 * k + 1)) for k in range(COUNT // 2))
elapsed = time.perf_counter() - start
print(json.dumps({"in_program_s": elapsed, **check_matrix(total)}))
