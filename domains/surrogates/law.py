"""The fitted law in closed form: a readable string and a JSON record other code can paste.

Kept apart from :mod:`.model` (which needs torch) so that commands which only print or read a law
start without importing torch.
"""

from __future__ import annotations

import keyword
import re
import unicodedata

import numpy as np


def law_string(theta: np.ndarray, names: list[str], digits: int = 3) -> str:
    """``Nu = 0.089 Re^0.68 Pr^0.4 e_Dh^0.1`` from ``(log C, exponents...)``."""
    parts = [f"Nu = {np.exp(theta[0]):.{digits}g}"]
    for name, exponent in zip(names[1:], theta[1:]):
        parts.append(f"{name}^{exponent:.{digits}g}")
    return " ".join(parts)


def argument_names(names: list[str]) -> list[str]:
    """Python identifiers for the law's variables: a column named ``e/Dh`` made ``lambda Re, Pr,
    e/Dh: ...`` a syntax error, and its body ``e/Dh**0.005`` another law if pasted alone. Other
    characters become ``_``; a name that is a keyword or starts with a digit gets ``x_``; a name
    taken twice a suffix."""
    out: list[str] = []
    for name in names:
        # \w keeps characters Python refuses in a name (subscripts: d₁), and Python reads names
        # in NFKC (ﬁ is fi)
        ident = unicodedata.normalize("NFKC", re.sub(r"\W", "_", name))
        ident = "".join(c if ("a" + c).isidentifier() else "_" for c in ident)
        if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
            ident = f"x_{ident}"
        base, k = ident, 2
        while ident in out:
            ident, k = f"{base}_{k}", k + 1
        out.append(ident)
    return out


def law_dict(theta: np.ndarray, cov: np.ndarray, names: list[str]) -> dict:
    """The law as JSON other code can paste: coefficients, exponents, their uncertainty, a lambda
    (``python``, whose arguments, :func:`argument_names`, stand for the columns ``arguments``
    names)."""
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    idents = argument_names(names[1:])
    args = ", ".join(idents)
    body = " * ".join([f"{np.exp(theta[0]):.6g}", *(f"{n}**{t:.6g}" for n, t in zip(idents, theta[1:]))])
    return {
        "law": law_string(theta, names),
        "C": float(np.exp(theta[0])),
        "log_C": float(theta[0]),
        "log_C_sd": float(sd[0]),
        "exponents": {n: float(t) for n, t in zip(names[1:], theta[1:])},
        "exponents_sd": {n: float(s) for n, s in zip(names[1:], sd[1:])},
        "covariance": {"order": list(names), "matrix": np.asarray(cov).tolist()},
        "python": f"lambda {args}: {body}",
        "arguments": dict(zip(idents, names[1:])),
    }
