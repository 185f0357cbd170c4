"""The product catalog holds no personal data."""

from fincrm.security.classification import not_personal

not_personal("products.Product.name", reason="a product's name, not a person's")
