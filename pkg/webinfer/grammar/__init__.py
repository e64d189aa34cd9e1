"""Constrained decoding: GBNF grammars and JSON Schema over a vocabulary's bytes.

gbnf (parse llama.cpp's format) -> matcher (a lazily built DFA over bytes) -> mask (the tokens a
state accepts, over the vocabulary's byte trie) -> constraint (what generate applies per token);
json_schema compiles response_format's JSON mode and schemas to GBNF.
"""

from .constraint import Constraint, make_constraint, response_format_gbnf
from .gbnf import Grammar, parse_gbnf
from .json_schema import json_object_gbnf, schema_to_gbnf, schemas_gbnf
from .matcher import Automaton, Matcher

__all__ = ["Grammar", "parse_gbnf", "Matcher", "Automaton", "Constraint", "make_constraint",
           "response_format_gbnf", "json_object_gbnf", "schema_to_gbnf",
           "schemas_gbnf"]
