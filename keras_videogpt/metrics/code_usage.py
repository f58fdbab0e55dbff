"""How many of a VQ-VAE's codes a stream of code grids uses, and their perplexity."""

import numpy as np


class CodeUsageStats:
    """Counts of each code over a stream of code grids.

    `result()` gives `codes_used` (codes seen at least once), `n_codes` and the
    perplexity `exp(entropy)` of the code frequencies (n_codes when all codes
    are equally frequent, 1 when one code is used).

    Example:
    >>> stats = CodeUsageStats(4).update(np.array([[0, 1], [1, 1]]))
    >>> stats.result()["codes_used"]
    2
    """

    def __init__(self, n_codes):
        self.counts = np.zeros(int(n_codes), "int64")

    def update(self, codes):
        codes = np.asarray(codes).reshape(-1)
        if codes.size and (codes.min() < 0 or codes.max() >= len(self.counts)):
            raise ValueError(f"Codes must be in [0, {len(self.counts)}); got values in "
                             f"[{codes.min()}, {codes.max()}].")
        self.counts += np.bincount(codes, minlength=len(self.counts))
        return self

    def result(self):
        total = self.counts.sum()
        if not total:
            raise ValueError("Code usage got no codes.")
        probs = self.counts / total
        nonzero = probs[probs > 0]
        return {"codes_used": int((self.counts > 0).sum()), "n_codes": len(self.counts),
                "perplexity": float(np.exp(-(nonzero * np.log(nonzero)).sum()))}
