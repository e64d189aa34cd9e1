"""Real-world JSON Schemas shared by the grammar tests: a product, an address, nested arrays of
enums, unicode strings, a recursive tree."""

PRODUCT = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 40},
    "price": {"type": "number", "minimum": 0},
    "stock": {"type": "integer", "minimum": 0, "maximum": 10000},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
    "on_sale": {"type": "boolean"}}, "required": ["name", "price"]}
ADDRESS = {"type": "object", "properties": {
    "street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"},
    "country": {"enum": ["FR", "DE", "US", "JP"]}, "unit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
    "required": ["street", "city", "country"], "additionalProperties": False}
NESTED_ENUMS = {"type": "object", "properties": {"grid": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
    "type": "array", "minItems": 2, "maxItems": 2, "items": {"enum": ["red", "green", "blue"]}}}},
    "required": ["grid"]}
UNICODE = {"type": "object", "properties": {"greeting": {"const": "h\u00e9llo \u4e16\u754c"},
                                            "word": {"type": "string", "maxLength": 3}}, "required": ["greeting", "word"]}
TREE = {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer", "minimum": -5, "maximum": 5},
                                                           "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["v"]}}, "$ref": "#/$defs/node"}
