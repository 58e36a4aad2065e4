"""The words a synthetic WebShop catalog is made of.

WebShop (Yao et al. 2022, section 3) scrapes 1.18M Amazon products in five
categories (beauty, food, fashion, furniture, electronics), each with a title,
a category path, attributes mined from its text ("long lasting", "gluten
free"), clickable options (size, color, flavor) and a price. We ship no
scraped data, so the catalog is generated from these lists: the same five
categories, product types made of a qualifier and a noun ("bamboo cutting
board"), and WebShop-like attributes and options per category.

Example:
    >>> CATEGORIES[0].name, CATEGORIES[0].nouns[0]
    ('beauty', 'lipstick')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategoryWords:
    """The vocabulary of one catalog category."""

    name: str
    path: str
    """Top of the category path ("Beauty & Personal Care")."""
    nouns: tuple[str, ...]
    """Base product nouns; a product type is a qualifier plus one of these."""
    qualifiers: tuple[str, ...]
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    """Option kinds and their possible values, e.g. ("color", ("red", "blue"))."""
    price_range: tuple[float, float]


COLORS = ("black", "white", "red", "blue", "green", "navy", "grey", "pink", "beige",
          "brown", "purple", "yellow", "teal", "ivory", "silver", "gold")

CATEGORIES: tuple[CategoryWords, ...] = (
    CategoryWords(
        name="beauty",
        path="Beauty & Personal Care",
        nouns=("lipstick", "shampoo", "conditioner", "moisturizer", "serum", "sunscreen",
               "mascara", "eyeliner", "deodorant", "toothpaste", "perfume", "hair dryer",
               "nail polish", "face mask", "body lotion", "lip balm", "hair oil",
               "makeup brush", "cleanser", "toner"),
        qualifiers=("argan", "coconut", "charcoal", "rose", "vitamin c", "aloe", "matte",
                    "herbal", "tea tree", "lavender", "hyaluronic", "shea"),
        attributes=("long lasting", "cruelty free", "paraben free", "sulfate free",
                    "non toxic", "alcohol free", "fragrance free", "travel size",
                    "easy to use", "dermatologist tested", "natural ingredients",
                    "sensitive skin", "dry skin", "oil free", "vegan", "anti aging"),
        options=(("color", COLORS[:10]),
                 ("size", ("0.5 oz", "1 oz", "1.7 oz", "3.4 oz", "8 oz", "16 oz")),
                 ("scent", ("unscented", "vanilla", "citrus", "mint", "floral", "ocean"))),
        price_range=(4.0, 60.0),
    ),
    CategoryWords(
        name="food",
        path="Grocery & Gourmet Food",
        nouns=("protein bar", "granola", "coffee beans", "green tea", "olive oil", "honey",
               "pasta", "trail mix", "dark chocolate", "peanut butter", "rice", "oatmeal",
               "hot sauce", "beef jerky", "almonds", "crackers", "cereal", "maple syrup",
               "cookies", "popcorn"),
        qualifiers=("organic", "vanilla", "chipotle", "cinnamon", "almond", "wildflower",
                    "espresso", "matcha", "sea salt", "blueberry", "keto", "smoked"),
        attributes=("gluten free", "sugar free", "low carb", "non gmo", "high protein",
                    "kosher", "dairy free", "keto friendly", "individually wrapped",
                    "ready to eat", "low calorie", "plant based", "no artificial flavors",
                    "caffeine free", "nut free", "fair trade"),
        options=(("flavor", ("original", "chocolate", "vanilla", "strawberry", "peanut",
                             "caramel", "lemon", "mixed berry")),
                 ("size", ("6 oz", "12 oz", "1 lb", "2 lb", "5 lb")),
                 ("pack", ("pack of 1", "pack of 2", "pack of 6", "pack of 12", "pack of 24"))),
        price_range=(3.0, 45.0),
    ),
    CategoryWords(
        name="fashion",
        path="Clothing, Shoes & Jewelry",
        nouns=("sneakers", "hoodie", "t-shirt", "jeans", "dress", "jacket", "boots",
               "sandals", "leggings", "sweater", "backpack", "wallet", "sunglasses",
               "watch", "socks", "scarf", "beanie", "shorts", "blouse", "pajamas"),
        qualifiers=("denim", "wool", "linen", "leather", "running", "hiking", "vintage",
                    "slim fit", "cotton", "fleece", "polarized", "canvas"),
        attributes=("machine wash", "quick drying", "water resistant", "non slip",
                    "breathable", "moisture wicking", "button closure", "elastic waist",
                    "long sleeve", "short sleeve", "zipper closure", "lightweight",
                    "stretch fabric", "hand wash", "rubber sole", "relaxed fit"),
        options=(("color", COLORS),
                 ("size", ("x-small", "small", "medium", "large", "x-large", "xx-large")),
                 ("fit", ("regular", "big and tall", "petite", "plus"))),
        price_range=(8.0, 120.0),
    ),
    CategoryWords(
        name="furniture",
        path="Home & Kitchen",
        nouns=("bookshelf", "office chair", "coffee table", "nightstand", "bar stool",
               "tv stand", "desk", "ottoman", "dresser", "shoe rack", "bed frame",
               "side table", "floor lamp", "storage bench", "cutting board", "curtains",
               "rug", "mattress topper", "throw pillow", "wall shelf"),
        qualifiers=("bamboo", "oak", "walnut", "metal", "velvet", "rattan", "marble",
                    "industrial", "mid century", "farmhouse", "folding", "glass"),
        attributes=("easy assembly", "space saving", "easy to clean", "solid wood",
                    "storage space", "height adjustable", "living room", "bedroom",
                    "heavy duty", "assembly required", "non slip", "water resistant",
                    "modern style", "eco friendly", "dishwasher safe", "stain resistant"),
        options=(("color", COLORS[:12]),
                 ("size", ("small", "medium", "large", "2 pack", "3 tier", "4 tier")),
                 ("material", ("wood", "metal", "fabric", "plastic", "glass"))),
        price_range=(15.0, 300.0),
    ),
    CategoryWords(
        name="electronics",
        path="Electronics",
        nouns=("headphones", "earbuds", "phone case", "charger", "usb cable", "power bank",
               "bluetooth speaker", "webcam", "keyboard", "mouse", "monitor", "tablet",
               "smart watch", "hdmi cable", "router", "microphone", "dash cam",
               "screen protector", "laptop stand", "ring light"),
        qualifiers=("wireless", "gaming", "noise cancelling", "usb c", "4k", "portable",
                    "magnetic", "mechanical", "ergonomic", "rgb", "waterproof", "mini"),
        attributes=("fast charging", "high definition", "easy install", "long battery life",
                    "low latency", "plug and play", "hands free", "water resistant",
                    "wireless bluetooth", "high speed", "shock absorption", "usb port",
                    "dual band", "touch control", "compact size", "stereo sound"),
        options=(("color", COLORS[:8]),
                 ("size", ("3 ft", "6 ft", "10 ft", "13 inch", "15 inch", "27 inch")),
                 ("style", ("standard", "pro", "lite", "max", "2 pack"))),
        price_range=(6.0, 250.0),
    ),
)

BRAND_SYLLABLES = ("lu", "mo", "ra", "vex", "tri", "no", "ka", "zen", "fi", "ver", "sol",
                   "ta", "bri", "qu", "el", "dor", "pi", "an", "ko", "mi", "sa", "ro")

TITLE_EXTRAS = ("for Women", "for Men", "for Kids", "for Home", "for Travel", "Set",
                "Premium", "Classic", "Deluxe", "Everyday", "Professional", "Gift Idea")

DESCRIPTION_OPENERS = ("Designed for everyday use", "Made with care", "Our best seller",
                       "A customer favourite", "Built to last", "Thoughtfully crafted")

REVIEW_LINES = ("Works as described.", "Great value for the price.", "Arrived quickly.",
                "Would buy again.", "Not bad, a little smaller than expected.",
                "Exactly what I needed.", "Quality could be better.", "Love it!")
