"""A WebShop-style shopping environment (Yao et al. 2022)."""
