"""A synthetic product catalog in the shape of WebShop's (Yao et al. 2022, section 3).

Each product has an ASIN-like id, a title, a category path, a product type
(qualifier + noun, the part of the title WebShop's type reward compares),
attributes, clickable options and a price. Long texts (description, features,
reviews) are not stored: they are derived from the product on demand, so a
100k-product catalog is a few tens of megabytes and builds in about a second.
The same `(num_products, seed)` always gives the same catalog.

Example:
    >>> catalog = generate_catalog(1000, seed=0)
    >>> product = catalog.products[0]
    >>> product.id, product.type, product.price
    >>> catalog.get(product.id.lower()) is product   # ids are case-insensitive
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agentloop.environments.webshop.vocab import (
    BRAND_SYLLABLES,
    CATEGORIES,
    DESCRIPTION_OPENERS,
    REVIEW_LINES,
    TITLE_EXTRAS,
)

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_SPACE = 36**8
_ID_MULTIPLIER = 2_654_435_761  # odd and not a multiple of 3: a bijection modulo 36**8


@dataclass(frozen=True, slots=True)
class Product:
    """One product of the catalog."""

    index: int
    id: str
    title: str
    category: str
    """Category path, levels joined by " › " as in WebShop."""
    type: str
    """Product type, e.g. "bamboo cutting board" (qualifier + noun)."""
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    """Option kinds and the values this product offers, e.g. (("color", ("red", "blue")),)."""
    price: float

    def option_values(self) -> dict[str, str]:
        """Map each offered option value (lowercase) to its option kind."""
        return {value: kind for kind, values in self.options for value in values}

    def search_text(self) -> str:
        """The text the search engine indexes: title, attributes and option values."""
        values = " ".join(v for _, vs in self.options for v in vs)
        return f"{self.title} {' '.join(self.attributes)} {values}"


@dataclass
class Catalog:
    """All products, with a lookup by id (lowercase)."""

    products: list[Product]
    seed: int
    by_id: dict[str, Product] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.by_id:
            self.by_id = {p.id.lower(): p for p in self.products}

    def __len__(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        """The product with this id (case-insensitive), or None."""
        return self.by_id.get(product_id.strip().lower())


def product_id(index: int) -> str:
    """An ASIN-like id ("B0" + 8 base-36 characters), distinct for every index < 36**8."""
    code = (index * _ID_MULTIPLIER + 12_345) % _ID_SPACE
    chars = []
    for _ in range(8):
        code, digit = divmod(code, 36)
        chars.append(_ID_ALPHABET[digit])
    return "B0" + "".join(reversed(chars))


def _brands(rng: random.Random, count: int) -> list[str]:
    names = set()
    while len(names) < count:
        names.add("".join(rng.choice(BRAND_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize())
    return sorted(names)


def _base_prices(rng: random.Random) -> dict[str, float]:
    """A typical price per (category, noun), so prices of one kind of product are alike."""
    prices = {}
    for category in CATEGORIES:
        low, high = category.price_range
        for noun in category.nouns:
            prices[noun] = rng.uniform(low, high)
    return prices


def _make_product(index: int, rng: random.Random, brands: list[str],
                  base_prices: dict[str, float]) -> Product:
    category = CATEGORIES[rng.randrange(len(CATEGORIES))]
    noun, qualifier = rng.choice(category.nouns), rng.choice(category.qualifiers)
    kind = f"{qualifier} {noun}"
    attributes = tuple(rng.sample(category.attributes, rng.randint(2, 5)))
    options = []
    for name, values in rng.sample(category.options, rng.choice((0, 1, 1, 2, 2, 3))):
        picked = set(rng.sample(values, rng.randint(2, min(5, len(values)))))
        options.append((name, tuple(v for v in values if v in picked)))
    words = [rng.choice(brands)]
    if rng.random() < 0.5:
        words.append(attributes[0].title())
    words.append(kind.title())
    if rng.random() < 0.6:
        words.append(rng.choice(TITLE_EXTRAS))
    price = max(1.99, round(base_prices[noun] * rng.uniform(0.6, 1.6)) - 0.01)
    return Product(index=index, id=product_id(index), title=" ".join(words),
                   category=f"{category.path} › {category.name.title()} › {noun.title()}",
                   type=kind, attributes=attributes, options=tuple(options), price=price)


def generate_catalog(num_products: int, seed: int = 0) -> Catalog:
    """Generate `num_products` products deterministically from `seed`."""
    if num_products < 1:
        raise ValueError(f"num_products must be positive, got {num_products}")
    rng = random.Random(seed)
    brands = _brands(rng, 300)
    base_prices = _base_prices(rng)
    products = [_make_product(i, rng, brands, base_prices) for i in range(num_products)]
    return Catalog(products=products, seed=seed)


def description(product: Product) -> str:
    """The product's description page text (derived, not stored)."""
    rng = random.Random(product.index)
    traits = ", ".join(product.attributes[:-1]) + f" and {product.attributes[-1]}"
    return f"{rng.choice(DESCRIPTION_OPENERS)}. This {product.type} is {traits}."


def features(product: Product) -> list[str]:
    """The product's feature bullets (derived, not stored)."""
    bullets = [attribute.capitalize() for attribute in product.attributes]
    bullets += [f"Available {kind}: {', '.join(values)}" for kind, values in product.options]
    return bullets


def reviews(product: Product) -> list[str]:
    """Two short customer reviews with star ratings (derived, not stored)."""
    rng = random.Random(product.index * 31 + 7)
    return [f"{rng.randint(2, 5)} stars: {line}" for line in rng.sample(REVIEW_LINES, 2)]
