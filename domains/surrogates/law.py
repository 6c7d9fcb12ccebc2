"""The fitted law in closed form: a readable string and a JSON record other code can paste.

Kept apart from :mod:`.model` (which needs torch) so that commands which only print or read a law
start without importing torch.
"""

from __future__ import annotations

import numpy as np


def law_string(theta: np.ndarray, names: list[str], digits: int = 3) -> str:
    """``Nu = 0.089 Re^0.68 Pr^0.4 e_Dh^0.1`` from ``(log C, exponents...)``."""
    parts = [f"Nu = {np.exp(theta[0]):.{digits}g}"]
    for name, exponent in zip(names[1:], theta[1:]):
        parts.append(f"{name}^{exponent:.{digits}g}")
    return " ".join(parts)


def law_dict(theta: np.ndarray, cov: np.ndarray, names: list[str]) -> dict:
    """The law as JSON other code can paste: coefficients, exponents, their uncertainty, a lambda."""
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    args = ", ".join(names[1:])
    body = " * ".join([f"{np.exp(theta[0]):.6g}", *(f"{n}**{t:.6g}" for n, t in zip(names[1:], theta[1:]))])
    return {
        "law": law_string(theta, names),
        "C": float(np.exp(theta[0])),
        "log_C": float(theta[0]),
        "log_C_sd": float(sd[0]),
        "exponents": {n: float(t) for n, t in zip(names[1:], theta[1:])},
        "exponents_sd": {n: float(s) for n, s in zip(names[1:], sd[1:])},
        "covariance": {"order": list(names), "matrix": np.asarray(cov).tolist()},
        "python": f"lambda {args}: {body}",
    }
