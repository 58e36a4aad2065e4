"""WebShop's purchase reward (Yao et al. 2022, section 3.2, eq. 1).

    r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[y_price <= u_price])
               / (|U_att| + |U_opt| + 1)

U is the goal (attributes, options, price bound) and Y the bought product with
the options the agent selected. `r_type` follows WebShop's `get_type_reward`:
1.0 when the product type matches, lowered to 0.5, 0.1 or 0.0 as the bought
product's type words overlap less with the goal's. An attribute matches when
one of the product's attributes has a rapidfuzz `token_set_ratio` above 85 with
it, or it appears in the title (WebShop also looks in the title). Options are
compared exactly (after lowercasing): our option values are a closed
vocabulary the agent clicks, and token_set_ratio would confuse "1 oz" with
"16 oz".

Example:
    >>> breakdown = purchase_reward(product, {"color": "red"}, goal)
    >>> breakdown.reward, breakdown.r_type, breakdown.r_att
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from agentloop.environments.webshop.catalog import Product
from rapidfuzz import fuzz

ATTRIBUTE_MATCH = 85
"""WebShop's fuzzy-match threshold for attributes."""


@dataclass(frozen=True)
class Goal:
    """What the instruction asks for (WebShop's `goal`)."""

    type: str
    category: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    """(option kind, wanted value) pairs, e.g. (("color", "red"),)."""
    price_upper: float

    def to_dict(self) -> dict:
        return {"type": self.type, "category": self.category, "attributes": list(self.attributes),
                "options": [list(pair) for pair in self.options], "price_upper": self.price_upper}

    @classmethod
    def from_dict(cls, data: dict) -> Goal:
        return cls(type=data["type"], category=data["category"],
                   attributes=tuple(data["attributes"]),
                   options=tuple((kind, value) for kind, value in data["options"]),
                   price_upper=float(data["price_upper"]))


@dataclass(frozen=True)
class RewardBreakdown:
    """The reward and its parts, returned in the terminal step's info."""

    reward: float
    r_type: float
    r_att: float
    """Fraction of goal attributes matched (1.0 when the goal has none)."""
    r_option: float
    """Fraction of goal options selected (1.0 when the goal has none)."""
    r_price: float
    title_score: float
    category_match: bool
    query_match: bool

    def to_dict(self) -> dict:
        return asdict(self)


def type_reward(product: Product, goal: Goal) -> tuple[float, float, bool, bool]:
    """WebShop's `get_type_reward`: (r_type, title_score, category_match, query_match).

    WebShop compares the nouns of the two titles (spaCy); our product type is
    made only of nouns and noun modifiers, so its words are compared directly.
    `query_match` (WebShop: scraped by the same search query) is "same noun".
    """
    query_match = product.category == goal.category
    levels = set(product.category.split(" › ")) & set(goal.category.split(" › "))
    category_match = len(levels) >= 2
    wanted = set(goal.type.split())
    title_score = len(wanted & set(product.type.split())) / len(wanted) if wanted else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score, category_match, query_match


def _has_attribute(product: Product, attribute: str) -> bool:
    if attribute in product.title.lower():
        return True
    return any(fuzz.token_set_ratio(attribute, own) > ATTRIBUTE_MATCH for own in product.attributes)


def purchase_reward(product: Product, selected: dict[str, str], goal: Goal) -> RewardBreakdown:
    """The reward for buying `product` with the `selected` options (kind -> value)."""
    r_type, title_score, category_match, query_match = type_reward(product, goal)
    attribute_hits = sum(_has_attribute(product, attribute) for attribute in goal.attributes)
    chosen = {value.lower() for value in selected.values()}
    option_hits = sum(value.lower() in chosen for _, value in goal.options)
    price_ok = float(product.price <= goal.price_upper)
    total = (attribute_hits + option_hits + price_ok) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardBreakdown(
        reward=round(total * r_type, 6), r_type=r_type,
        r_att=attribute_hits / len(goal.attributes) if goal.attributes else 1.0,
        r_option=option_hits / len(goal.options) if goal.options else 1.0,
        r_price=price_ok, title_score=title_score,
        category_match=category_match, query_match=query_match)
