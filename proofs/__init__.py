"""Sympy derivations of the identities polopt relies on; each ``*_proof.py`` module is run by pytest."""
